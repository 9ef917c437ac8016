"""Training windows, bad windows, and what a training run leaves in MLflow (the PostgreSQL database store)."""

from __future__ import annotations

import json
import logging

import pytest

import synthetic_features as synthetic
from contrail import datasets, storage
from contrail.config import ConfigError
from contrail.quality import ledger as quality_ledger
from contrail.registry import tracking
from contrail.training import model, run, schedule, tasks, window


def test_days_split_by_time_with_the_latest_days_held_out():
    days = [f"2013-04-{d:02d}" for d in range(1, 21)]
    split = window.split(list(reversed(days)))
    assert (len(split.train), len(split.validation), len(split.holdout)) == (14, 3, 3)
    assert split.holdout == days[-3:] and split.validation == days[-6:-3] and split.days == days
    assert window.split(days[:7]).as_dict() == {"train": days[:5], "validation": days[5:6], "holdout": days[6:7]}


def test_an_empty_or_short_window_is_too_small():
    with pytest.raises(window.WindowTooSmall, match="the training window is empty"):
        window.split([])
    with pytest.raises(window.WindowTooSmall, match="holds 3 usable day"):
        window.split(["2013-04-01", "2013-04-02", "2013-04-03"])


def test_an_explicit_window_with_a_day_that_failed_quality_is_refused_by_name():
    synthetic.write_days("2013-05-01", 8)
    synthetic.write_days("2013-05-05", 1, status="failed")
    with pytest.raises(window.WindowError, match=r"failed quality: .*features dt=2013-05-05 failed critical checks"):
        window.explicit("2013-05-01", "2013-05-08")
    assert window.explicit("2013-05-06", "2013-05-08") == ["2013-05-06", "2013-05-07", "2013-05-08"]


def test_an_explicit_window_with_missing_days_names_them():
    synthetic.write_days("2013-05-20", 3)
    with pytest.raises(window.WindowError, match="no features for 2 day.*2013-05-23, 2013-05-24"):
        window.explicit("2013-05-20", "2013-05-24")
    with pytest.raises(window.WindowError, match="before its start"):
        window.explicit("2013-05-22", "2013-05-20")


def test_a_window_with_one_class_only_is_refused_before_anything_is_logged():
    days = synthetic.write_days("2013-06-01", 7, "zero")
    with pytest.raises(window.WindowError, match="one class only"):
        run.train(window.split(days), model_name="one_class")
    client = tracking.client()
    assert client.search_model_versions("name='one_class'") == []


def test_a_run_records_metrics_window_lineage_plots_and_a_servable_model():
    import mlflow

    days = synthetic.write_days("2013-07-01", 10)
    candidate = run.train(window.split(days), model_name="recorded", tune=True, n_trials=3, timeout_s=120)
    client = tracking.client()
    mv = client.get_model_version("recorded", candidate["version"])
    assert mv.tags["contrail.window"] == "2013-07-01..2013-07-10"
    assert mv.tags["contrail.holdout_days"] == "2013-07-09,2013-07-10"
    assert json.loads(mv.tags["contrail.quality"])["2013-07-03"]["features"] == "passed"
    r = client.get_run(candidate["run_id"])
    for metric in ("roc_auc", "pr_auc", "log_loss", "brier", "precision", "recall"):
        assert 0 <= r.data.metrics[f"holdout_{metric}"] <= 1 or metric == "log_loss"
    assert r.data.metrics["holdout_roc_auc"] == pytest.approx(candidate["metrics"]["roc_auc"])
    assert r.data.params["window_start"] == "2013-07-01" and r.data.params["tuning"] == "True"
    artifacts = {a.path for a in client.list_artifacts(r.info.run_id)} | {
        a.path for a in client.list_artifacts(r.info.run_id, "plots")}
    assert {"lineage.json", "window.json", "tuning.json", "holdout_slices.json", "feature_importance.json",
            "plots/roc.png", "plots/calibration.png", "plots/feature_importance.png"} <= artifacts
    lineage = mlflow.artifacts.load_dict(f"{r.info.artifact_uri}/lineage.json")
    partition = storage.location(datasets.FEATURES.path + "/dt=2013-07-04")
    assert lineage["2013-07-04"]["sha256"] == storage.partition_digest(partition)
    assert lineage["2013-07-04"]["quality"]["features"]["status"] == "passed"
    assert len(mlflow.artifacts.load_dict(f"{r.info.artifact_uri}/tuning.json")["trials"]) == 3
    # the registered model serves probabilities equal to the trained pipeline's, from its signature's columns
    loaded = mlflow.pyfunc.load_model(f"models:/recorded/{candidate['version']}")
    assert [c.name for c in loaded.metadata.get_input_schema().inputs] == list(model.FEATURES)
    rows = window.load(["2013-07-10"])
    served = loaded.predict(model.inputs(rows))[:, 1]
    sk = mlflow.sklearn.load_model(f"models:/recorded/{candidate['version']}")
    assert served == pytest.approx(sk.predict_proba(model.inputs(rows))[:, 1])


def test_hyperparameters_outside_the_search_space_are_refused():
    with pytest.raises(ValueError, match="num_leaves=4096 outside its range"):
        model.check_params({"num_leaves": 4096})
    with pytest.raises(ValueError, match="unknown hyperparameter 'depth'"):
        model.check_params({"depth": 3})


def test_the_model_reads_the_columns_the_spark_job_writes():
    from spark_jobs import build_features

    assert set(model.FEATURES) == set(build_features.FEATURE_COLUMNS)


@pytest.fixture
def own_lake(tmp_path, monkeypatch):
    """A lake of this test's own: the policy walks every day of a lake, and the session's lake holds other tests' days."""
    monkeypatch.setenv("CONTRAIL_DATA_ROOT", f"file://{tmp_path}/lake")
    return tmp_path


def test_a_degraded_day_is_left_out_of_scheduled_and_manual_windows_unless_asked_for(own_lake, monkeypatch):
    synthetic.write_days("2013-08-01", 10)
    quality_ledger.write_verdict({"table": "features", "dt": "2013-08-03", "status": "warning", "critical": [],
                                  "degraded": ["weather: its quality gate failed (weather.not_empty); no flight of the day has weather"]})
    monkeypatch.setattr(tasks, "versions_due", lambda name: {})
    split = tasks.resolve_window({}, "scheduled")
    # settled, not usable: the first window holding 7 usable days now ends on 08-08 without 08-03
    assert split["due"] == "2013-08-08" and "2013-08-03" not in split["train"]
    said = []  # the window's logger itself: Airflow's logging set-up in other tests may have turned it off
    logger = logging.getLogger("contrail.training.window")
    monkeypatch.setattr(logger, "disabled", False)
    monkeypatch.setattr(logger, "handlers", [type("Said", (logging.Handler,), {"emit": lambda self, r: said.append(r.getMessage())})()])
    manual = tasks.resolve_window({"start": "2013-08-01", "end": "2013-08-10"}, "scheduled")
    assert "2013-08-03" not in manual["train"] and len(manual["train"] + manual["validation"] + manual["holdout"]) == 9
    assert any(m.startswith("training leaves out 2013-08-03, degraded: weather: its quality gate failed") for m in said), said
    monkeypatch.setenv("CONTRAIL_TRAIN_ON_DEGRADED", "true")
    assert tasks.resolve_window({}, "scheduled")["due"] == "2013-08-07"
    assert "2013-08-03" in tasks.resolve_window({"start": "2013-08-01", "end": "2013-08-10"}, "scheduled")["train"]
    monkeypatch.setenv("CONTRAIL_TRAIN_ON_DEGRADED", "sometimes")
    with pytest.raises(ConfigError, match="CONTRAIL_TRAIN_ON_DEGRADED='sometimes': say true or false"):
        tasks.resolve_window({}, "scheduled")


def test_a_scheduled_run_trains_what_the_policy_has_due_on_the_days_of_its_window(own_lake, caplog, monkeypatch):
    synthetic.write_days("2013-08-01", 10)
    quality_ledger.write_verdict({"table": "features", "dt": "2013-08-04", "status": "failed", "critical": ["x"]})
    monkeypatch.setattr(tasks, "versions_due", lambda name: {})
    with caplog.at_level(logging.INFO):
        split = tasks.resolve_window({}, "scheduled")
    # the first window holding 7 usable days ends on 08-08: 08-04 failed, 08-09 and 08-10 are not in it
    assert (split["due"], split["reason"]) == ("2013-08-08", "first window")
    assert window.Split(**{p: split[p] for p in ("train", "validation", "holdout")}).days == [
        d for d in schedule.day_range("2013-08-01", "2013-08-08") if d != "2013-08-04"]
    assert "training due 2013-08-08 (first window) on 7 day(s) 2013-08-01..2013-08-08" in caplog.text
    monkeypatch.setattr(tasks, "versions_due", lambda name: {"2013-08-08": "4"})  # trained, the gate not asked yet
    with pytest.raises(tasks.Skip, match="v4 was trained as due 2013-08-08 and awaits its promotion decision"):
        tasks.resolve_window({}, "scheduled")
    monkeypatch.setenv("CONTRAIL_MIN_WINDOW_DAYS", "12")
    with pytest.raises(tasks.Skip, match="no training is due through 2013-08-10, the last settled day"):
        tasks.resolve_window({}, "scheduled")
    with pytest.raises(window.WindowError, match="failed quality"):  # by hand: the same window is an error
        tasks.resolve_window({"start": "2013-08-01", "end": "2013-08-10"}, "scheduled")
