"""Batch scoring through the Spark job with a real registered model (MLflow on the PostgreSQL store, local Spark Connect)."""

from __future__ import annotations

import pytest

import synthetic_features as synthetic
from contrail import scoring, storage
from contrail.registry import promotion, tracking
from contrail.training import model, run, window

pytestmark = pytest.mark.spark
NAME = "scoring_test"


def predictions(day: str):
    return storage.read_parquet(storage.location(f"predictions/dt={day}"))


@pytest.fixture(scope="module")
def champion(spark):
    days = synthetic.write_days("2013-09-01", 10)
    candidate = run.train(window.split(days), model_name=NAME)
    assert promotion.promote(NAME, candidate["version"])["promoted"]
    return candidate, days


def test_without_a_champion_scoring_is_a_clear_skip(spark):
    with pytest.raises(scoring.NoChampion, match="model nobody has no champion yet, so 2013-09-01 cannot be scored"):
        scoring.plan(["2013-09-01"], model_name="nobody")


def test_scores_match_the_model_on_the_same_rows_and_name_the_version(champion):
    import mlflow

    candidate, days = champion
    result = scoring.score(days[-2:], model_name=NAME)
    assert {d: r["model_version"] for d, r in result.items()} == {d: candidate["version"] for d in days[-2:]}
    pipeline = mlflow.sklearn.load_model(f"models:/{NAME}/{candidate['version']}")
    for day in days[-2:]:
        scored = predictions(day).sort_values(["carrier", "flight"]).reset_index(drop=True)
        features = window.load([day]).sort_values(["carrier", "flight"]).reset_index(drop=True)
        assert len(scored) == len(features) == result[day]["rows"]
        expected = pipeline.predict_proba(model.inputs(features))[:, 1]
        assert scored["probability"].to_numpy() == pytest.approx(expected, abs=1e-9)
        assert set(scored["model_version"]) == {candidate["version"]} and set(scored["model_name"]) == {NAME}
        assert scoring.read_manifest(day)["model_version"] == candidate["version"]


def test_a_rerun_replaces_and_keeps_the_model_that_first_scored_the_day(champion):
    candidate, _ = champion
    (day,) = synthetic.write_days("2013-09-21", 1)  # a day of its own: the window's days stay as the other tests score them
    scoring.score([day], model_name=NAME)
    first = predictions(day)
    assert set(first["model_version"]) == {candidate["version"]}
    other = run.train(window.split(synthetic.write_days("2013-09-11", 10)), model_name=NAME)
    client = tracking.client()
    client.set_registered_model_alias(NAME, "champion", other["version"])  # a new champion (gate bypassed on purpose)
    try:
        scoring.score([day], model_name=NAME)
        again = predictions(day)
        assert len(again) == len(first) and not again.duplicated(["carrier", "flight", "origin", "sched_dep_time"]).any()
        assert set(again["model_version"]) == {candidate["version"]}  # reproduces the first scoring
        scoring.score([day], model_name=NAME, use_current_champion=True)
        assert set(predictions(day)["model_version"]) == {other["version"]} and len(predictions(day)) == len(first)
        files = [p for p in storage.location(f"predictions/dt={day}").iterdir() if p.name.endswith(".parquet")]
        assert len(files) >= 1 and scoring.read_manifest(day)["model_version"] == other["version"]
    finally:  # the module's champion again, whatever runs next
        client.set_registered_model_alias(NAME, "champion", candidate["version"])


def test_a_day_that_failed_quality_is_never_scored(champion):
    from contrail.quality import ledger

    synthetic.write_days("2013-09-25", 1, status="failed")
    with pytest.raises(ledger.QualityGateError, match="features dt=2013-09-25 failed"):
        scoring.score(["2013-09-25"], model_name=NAME)
    assert not storage.location("predictions/dt=2013-09-25").exists()
    assert "2013-09-25" not in scoring.stale_days()
