"""Monitoring through Airflow: an unshifted day asks for nothing, a shifted day asks for retraining, the cooldown holds."""

from __future__ import annotations

import os

import pytest

import synthetic_features as synthetic
from contrail import scoring, storage
from contrail.monitoring import monitor, retrain
from contrail.registry import promotion, tracking
from contrail.training import run, window

pytestmark = [pytest.mark.airflow, pytest.mark.spark]
NAME = "monitored"


@pytest.fixture(scope="module")
def scored(dagbag, spark, tmp_path_factory):
    # a lake of its own (the retraining policy walks every day of a lake), the schedule starting with this model,
    # and a cooldown of one day, so the shifted day two days after the window can ask
    settings = {"CONTRAIL_MODEL_NAME": NAME, "CONTRAIL_DATA_ROOT": f"file://{tmp_path_factory.mktemp('monitoring')}/lake",
                "CONTRAIL_SCHEDULE_START": "2013-10-10", "CONTRAIL_RETRAIN_COOLDOWN_DAYS": "1"}
    before = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    try:
        days = synthetic.write_days("2013-10-01", 10)
        candidate = run.train(window.split(days), model_name=NAME)
        assert promotion.promote(NAME, candidate["version"])["promoted"]
        synthetic.write_days("2013-10-11", 1)
        synthetic.write_days("2013-10-12", 3, shift=True)
        scoring.score(["2013-10-05", "2013-10-11", "2013-10-12", "2013-10-13", "2013-10-14"])  # 10-05: a training day
        yield candidate
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_monitoring(dagbag, start, end):
    dag_run = dagbag.get_dag("contrail_monitoring").test(run_conf={"start": start, "end": end})
    return dag_run, {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def test_an_unshifted_day_is_monitored_and_asks_for_nothing(dagbag, scored):
    dag_run, states = run_monitoring(dagbag, "2013-10-11", "2013-10-11")
    assert states == {"resolve_days": "success", "monitor": "success", "request_retraining": "skipped"}
    figures = monitor.read_figures("2013-10-11")
    assert figures["version"] == scored["version"] and figures["retrain_reasons"] == [] and figures["verdict"] == "stable"
    # the trailing days exclude 10-05: the same model scored it, but it is a day of its own window
    assert figures["drift_days"] == ["2013-10-11"] and figures["days_after_window"] == 1 and figures["calibrated"]
    assert figures["performance"]["days_after_window"] == 1
    assert figures["prediction_psi"] < 0.1
    # decay is measured against the scoring model's own holdout figure (its tag keeps 6 decimals)
    assert figures["decay"]["reference_roc_auc"] == pytest.approx(scored["metrics"]["roc_auc"], abs=1e-6)
    report = storage.location("reports/drift/dt=2013-10-11/report.html").read_text()
    assert "Drift report 2013-10-11" in report and "No threshold crossed" in report
    runs = tracking.client().search_runs([tracking.client().get_experiment_by_name("contrail-monitoring").experiment_id],
                                         "tags.`contrail.dt` = '2013-10-11'")
    assert runs and runs[0].data.tags["contrail.model_version"] == scored["version"] and "max_psi" in runs[0].data.metrics


def test_a_shifted_day_asks_for_retraining_once_within_the_cooldown(dagbag, scored, unpaused):
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with unpaused("contrail_training"):
        dag_run, states = run_monitoring(dagbag, "2013-10-12", "2013-10-14")
    assert states["request_retraining"] == "success", states
    (request,) = retrain.requests()
    assert request["dt"] == "2013-10-12" and request["reason"].startswith("alarm: ")  # the first alarmed day is due;
    assert request["version"] == scored["version"]  # 10-13 and 10-14 wait for its outcome
    shifted = monitor.read_figures("2013-10-13")
    assert shifted["retrain_reasons"] and "prediction distribution drifted" in " ".join(shifted["retrain_reasons"])
    assert "temp" in shifted["drifted"] and "hour" in shifted["drifted"]
    assert shifted["drift_days"] == ["2013-10-11", "2013-10-12", "2013-10-13"]  # the trailing days the same model scored
    with create_session() as session:
        asset_id = session.scalar(select(AssetModel.id).where(AssetModel.name == "retrain_request"))
        event = session.scalars(select(AssetEvent).where(AssetEvent.asset_id == asset_id)).all()[-1]
        assert event.source_run_id == dag_run.run_id and event.extra["dt"] == "2013-10-12" and event.extra["reasons"]
        queued = session.scalars(select(AssetDagRunQueue.target_dag_id).where(AssetDagRunQueue.asset_id == asset_id)).all()
    assert "contrail_training" in queued  # the training DAG is scheduled on the request

    again, states = run_monitoring(dagbag, "2013-10-14", "2013-10-14")  # 10-12's training is still due: asked again
    assert states["request_retraining"] == "success" and [r["dt"] for r in retrain.requests()] == ["2013-10-12"]


def test_a_day_of_the_model_s_own_window_is_not_judged(scored):
    figures = monitor.monitor_day("2013-10-05")
    assert figures["judged"] is False and figures["verdict"] == "in window, not judged" and figures["window_part"] == "train"
    assert figures["window"] == ["2013-10-01", "2013-10-10"]
    assert figures["retrain_reasons"] == [] and figures["performance"] is None and figures["decay"] is None
    assert figures["max_psi"] is None and monitor.read_figures("2013-10-05")["verdict"] == "in window, not judged"
    report = storage.location("reports/drift/dt=2013-10-05/report.html").read_text()
    assert "in window, not judged" in report and "2013-10-01..2013-10-10" in report
