"""Three weeks of real 2013 data through the features DAG, the training DAG on the first 18 days and the inference and
monitoring DAGs on the 3 days after its window, through Airflow (dag.test). One day of the window has its weather
feed emptied (as 2013-12-31's is in the real data, which the last test runs through the same DAGs): it is built,
degraded, and left out of the training."""

from __future__ import annotations

import datetime as dt

import pytest

from contrail import ingest
from contrail.dates import day_range
from contrail.registry import ledger, promotion, tracking

pytestmark = [pytest.mark.airflow, pytest.mark.spark]
START, END = "2013-05-01", "2013-05-21"
TRAIN_END = "2013-05-18"  # the days after it are scored and monitored out of time
NO_WEATHER = "2013-05-08"  # its weather feed landed empty: degraded, not in the window
MODEL = "flights_delay"


def promoted(version: str) -> dict:
    """The ledger's record of the gate promoting `version`, wherever it stands in the history."""
    (event,) = [e for e in ledger.history(MODEL) if (e["action"], e["version"]) == ("promoted", version)]
    return event


@pytest.fixture(scope="module")
def trained(dagbag, spark):
    from contrail import datasets, storage

    for day in day_range(dt.date.fromisoformat(START), dt.date.fromisoformat(END)):
        ingest.land_many(list(ingest.TABLES), day)
    weather = storage.location(datasets.RAW_WEATHER.partition(dt.date.fromisoformat(NO_WEATHER)))
    storage.write_parquet_atomically(storage.read_parquet(weather).iloc[0:0], weather)
    features = dagbag.get_dag("contrail_features").test(run_conf={"start": START, "end": END})
    assert features.state == "success"  # a failed weather gate degrades its day; it fails no run
    training = dagbag.get_dag("contrail_training").test(
        run_conf={"start": START, "end": TRAIN_END, "tune": True, "n_trials": 2, "timeout_minutes": 2})
    return training


def test_a_training_run_registers_and_promotes_a_model_on_real_data(trained):
    states = {ti.task_id: ti.state for ti in trained.get_task_instances()}
    assert trained.state == "success"
    assert {t: states[t] for t in ("resolve_window", "train.plan", "train.register", "promote")} == dict.fromkeys(
        ("resolve_window", "train.plan", "train.register", "promote"), "success")
    # the run asked to tune: the tuning slot trained, the plain training slot was left out, saying why
    assert (states["train.submit_tuning"], states["train.submit_training"]) == ("success", "skipped")
    client = tracking.client()
    champion = promotion.alias_version(client, MODEL, "champion")
    mv = client.get_model_version(MODEL, champion)
    assert mv.tags["contrail.window"] == f"{START}..{TRAIN_END}" and mv.tags["contrail.decision"] == "promoted"
    assert mv.tags["contrail.holdout_days"] == "2013-05-16,2013-05-17,2013-05-18"
    auc = float(mv.tags["contrail.holdout_roc_auc"])
    print(f"\nholdout ROC AUC of {MODEL} v{champion} trained on {START}..{TRAIN_END} through Airflow: {auc:.4f}")
    # the gate scored the registered model afresh on the holdout days: it reproduces what training reported
    assert promoted(champion)["metrics"]["roc_auc"] == pytest.approx(auc, abs=1e-6)  # (the tag keeps 6 decimals)
    run = client.get_run(mv.tags["contrail.run_id"])
    assert run.data.params["days"] == "17" and int(run.data.params["rows_holdout"]) > 2000  # 18 days less NO_WEATHER
    # the thresholds monitoring will judge by, calibrated on the window's own noise: its own days rarely alarm
    import mlflow

    calibration = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/reference_profile.json")["calibration"]
    print(f"calibrated on real data: 1-day prediction PSI threshold {calibration['by_days']['1']['prediction_psi']:.3f}, "
          f"7-day {calibration['by_days']['7']['prediction_psi']:.3f}, decay {calibration['decay']['threshold']:.3f}, "
          f"in-window alarm days {calibration['in_window']['flagged']}")
    assert calibration["in_window"]["days"] == 17 and calibration["in_window"]["share"] < 0.05


def test_the_promotion_event_carries_the_version_and_metrics(trained):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        event = session.scalars(select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                                .where(AssetModel.name == "model_champion").order_by(AssetEvent.id.desc())).first()
        assert event is not None and event.source_run_id == trained.run_id
        extra = event.extra
    assert extra["model"] == MODEL and extra["version"] == promotion.alias_version(tracking.client(), MODEL, "champion")
    assert extra["metrics"] == pytest.approx(promoted(extra["version"])["metrics"], abs=1e-6)  # the figures judged


def test_a_retrain_on_the_same_window_is_refused_and_skips_promotion(dagbag, trained):
    # dag.test keeps the previous run's conf in the DAG's params: say tune=False outright
    again = dagbag.get_dag("contrail_training").test(run_conf={"start": START, "end": TRAIN_END, "tune": False})
    states = {ti.task_id: ti.state for ti in again.get_task_instances()}
    assert states["train.register"] == "success" and states["promote"] == "skipped", states
    assert states["train.submit_training"] == "success" and states["mirror_model.plan"] == "success"
    assert ledger.history(MODEL)[-1]["action"] == "refused"


def test_real_days_are_scored_and_monitored_through_airflow(dagbag, trained):
    from contrail import scoring, storage
    from contrail.monitoring import monitor

    days = {"start": "2013-05-19", "end": "2013-05-21"}
    scored = dagbag.get_dag("contrail_inference").test(run_conf=days)
    assert scored.state == "success"
    champion = promotion.alias_version(tracking.client(), MODEL, "champion")
    for day in ("2013-05-19", "2013-05-20", "2013-05-21"):
        rows = storage.parquet_rows(storage.location(f"predictions/dt={day}"))
        assert rows == storage.parquet_rows(storage.location(f"features/dt={day}")) > 700
        assert scoring.read_manifest(day)["model_version"] == champion
    monitored = dagbag.get_dag("contrail_monitoring").test(run_conf=days)
    assert monitored.state == "success"
    figures = monitor.read_figures("2013-05-21")
    print(f"\nmonitoring 2013-05-21 (real data, v{champion}, {figures['days_after_window']} days after its window): "
          f"max PSI {figures['max_psi']:.3f} ({figures['max_psi_feature']}), prediction PSI {figures['prediction_psi']:.3f}, "
          f"ROC AUC {figures['performance']['roc_auc']:.4f}, retrain: {figures['retrain_reasons'] or 'no'}")
    assert figures["version"] == champion and figures["performance"]["rows"] > 700 and figures["judged"]
    assert figures["days_after_window"] == 3 and figures["drift_days"] == ["2013-05-19", "2013-05-20", "2013-05-21"]
    assert storage.location("reports/drift/dt=2013-05-21/report.html").exists()


def test_a_day_without_weather_is_built_scored_with_the_mark_and_left_out_of_training(dagbag, trained):
    """The window's day without weather, and the real 2013-12-31 (776 flights, an empty weather feed) through the
    features, inference and monitoring DAGs: features with null weather, each prediction marked, shown not judged."""
    import mlflow

    from contrail import scoring, storage
    from contrail.monitoring import monitor
    from contrail.quality import ledger as quality

    reasons = quality.read_verdict("features", NO_WEATHER)["degraded"]
    assert reasons and reasons[0].startswith("weather: its quality gate failed (weather.not_empty on (table): observed 0")
    frame = storage.read_parquet(storage.location(f"features/dt={NO_WEATHER}"))
    assert len(frame) > 700 and frame["temp"].isna().all() and frame["degraded"].str.contains("weather").all()
    champion = promotion.alias_version(tracking.client(), MODEL, "champion")
    run = tracking.client().get_run(tracking.client().get_model_version(MODEL, champion).tags["contrail.run_id"])
    window = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/window.json")
    learnt = [*window["train"], *window["validation"], *window["holdout"]]
    assert NO_WEATHER not in learnt and len(learnt) == 17

    last = "2013-12-31"
    ingest.land_many(list(ingest.TABLES), dt.date.fromisoformat(last))
    assert dagbag.get_dag("contrail_features").test(run_conf={"start": last, "end": last}).state == "success"
    assert quality.read_verdict("weather", last)["status"] == "failed"
    assert dagbag.get_dag("contrail_inference").test(run_conf={"start": last, "end": last}).state == "success"
    predictions = storage.read_parquet(storage.location(f"predictions/dt={last}"))
    assert len(predictions) == storage.parquet_rows(storage.location(f"features/dt={last}")) > 700
    assert predictions["degraded"].str.contains("weather").all() and predictions["probability"].notna().all()
    assert scoring.read_manifest(last)["degraded"] == quality.read_verdict("features", last)["degraded"] != []
    assert dagbag.get_dag("contrail_monitoring").test(run_conf={"start": last, "end": last}).state == "success"
    figures = monitor.read_figures(last)
    assert (figures["verdict"], figures["judged"], figures["retrain_reasons"]) == (monitor.DEGRADED, False, [])
    assert figures["performance"]["rows"] == len(predictions) and figures["max_psi"] is None
    print(f"\n{last} (real data, no weather): {len(predictions)} flights scored degraded by v{champion}, "
          f"realised ROC AUC {figures['performance']['roc_auc']:.4f}, not judged")
    assert "degraded" in storage.location(f"reports/drift/dt={last}/report.html").read_text()
