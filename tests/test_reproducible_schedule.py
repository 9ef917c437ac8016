"""A backfill reproduces the nightly history: the same days, landed one at a time and in order, or four at a time
out of order with scoring and monitoring racing ahead of training, give the same models (same data dates,
windows and metrics) and the same predictions, row for row.

The DAGs' task bodies run here, in this process (the lake, MLflow, Spark scoring and LightGBM are real), in
the orders the scheduler could run them in; what makes the history one is the retraining policy's walk.
"""

from __future__ import annotations

import hashlib
import os
import random

import pytest

import synthetic_features as synthetic
from contrail import datasets, scoring, storage
from contrail.dates import parse_day
from contrail.monitoring import monitor
from contrail.registry import ledger, promotion, tracking
from contrail.training import run, schedule, tasks, window

pytestmark = [pytest.mark.spark]
DAYS = schedule.day_range("2013-06-01", "2013-06-12")
SHIFTED = {"2013-06-10", "2013-06-11", "2013-06-12"}  # the inputs move: monitoring alarms
# a week-sized policy, so that twelve days hold an age-driven and an alarm-driven training (without the back-off
# after a refusal, whose cooldown would reach the 4-day age here: tests/test_schedule.py covers it)
POLICY = {"CONTRAIL_WINDOW_DAYS": "7", "CONTRAIL_MIN_WINDOW_DAYS": "5", "CONTRAIL_RETRAIN_MAX_AGE_DAYS": "4",
          "CONTRAIL_RETRAIN_COOLDOWN_DAYS": "3", "CONTRAIL_DRIFT_WINDOW_DAYS": "3", "CONTRAIL_RETRAIN_BACKOFF": "false"}


def train_what_is_due(model: str) -> bool:
    """The training DAG's run: resolve_window, the local training step and the promotion."""
    try:
        split = tasks.resolve_window({}, model)
    except tasks.Skip:
        return False
    candidate = run.train(window.Split(split["train"], split["validation"], split["holdout"]), model_name=model,
                          due=split["due"], reason=split["reason"])
    promotion.promote(model, candidate["version"])
    return True


def score_what_is_stale(model: str) -> bool:
    days = scoring.stale_days()
    if not days:
        return False
    try:
        scoring.score(days, model)
    except scoring.NoChampion:
        return False
    return True


def monitor_what_is_stale() -> bool:
    days = monitor.stale_days()
    for day in days:
        monitor.monitor_day(day)
    return bool(days)


def settle(model: str, steps) -> None:
    """Run the DAGs' bodies in the order `steps` until none has anything left to do (the asset events' cascade)."""
    for _ in range(60):
        if not any([step(model) for step in steps]):  # every step runs each round
            return
    raise AssertionError("the DAGs never settled")


def land(days: list[str]) -> None:
    for day in days:
        synthetic.write_days(day, 1, shift=day in SHIFTED, rows=400)


def history(model: str) -> dict:
    """Every model version's data date, window and holdout metrics, and every day's predictions (content digest)."""
    client = tracking.client()
    models = {}
    for mv in client.search_model_versions(f"name='{model}'"):
        tags = mv.tags
        models[mv.version] = (tags["contrail.due"], tags["contrail.reason"], tags["contrail.window"],
                              tags["contrail.holdout_roc_auc"], tags.get("contrail.decision"))
    predictions = {}
    for day in DAYS:
        frame = storage.read_parquet(storage.location(datasets.PREDICTIONS.partition(parse_day(day))))
        frame = frame.sort_values(["flight"]).reset_index(drop=True)
        rows = frame[["flight", "probability", "model_version"]].to_csv(index=False)
        predictions[day] = hashlib.sha256(rows.encode()).hexdigest()
    return {"models": models, "predictions": predictions}


@pytest.fixture
def backfill(spark, tmp_path, monkeypatch):
    def replay(name: str, order: str) -> dict:
        monkeypatch.setenv("CONTRAIL_DATA_ROOT", f"file://{tmp_path}/{name}/lake")
        monkeypatch.setenv("CONTRAIL_MODEL_NAME", name)
        for key, value in POLICY.items():
            monkeypatch.setenv(key, value)
        if order == "one at a time":  # each night: land, then training, scoring and monitoring follow
            for day in DAYS:
                land([day])
                settle(name, [train_what_is_due, score_what_is_stale, lambda _: monitor_what_is_stale()])
        else:  # four runs at once, finishing in any order; scoring and monitoring run before training catches up
            shuffle = random.Random(7)
            for batch in (DAYS[i:i + 4] for i in range(0, len(DAYS), 4)):
                land(shuffle.sample(batch, len(batch))[:2])
                score_what_is_stale(name)
                monitor_what_is_stale()
                land([d for d in batch if not storage.location(datasets.FEATURES.partition(parse_day(d))).exists()])
                score_what_is_stale(name)
                train_what_is_due(name)
            settle(name, [lambda _: monitor_what_is_stale(), score_what_is_stale, train_what_is_due])
        return history(name)

    yield replay
    os.environ.pop("CONTRAIL_MODEL_NAME", None)


def test_a_backfill_four_runs_at_a_time_reproduces_the_nightly_history(backfill):
    nightly = backfill("nightly", "one at a time")
    racing = backfill("racing", "four at a time")
    dues = sorted((m[0], m[1]) for m in nightly["models"].values())
    print("\ntrainings:", dues)
    assert dues[0] == ("2013-06-05", "first window")  # the first day whose window holds 5 usable days
    for (last, _), (day, reason) in zip(dues, dues[1:]):  # each later one by the policy's rules
        gap = schedule.gap(last, day)
        assert (reason == "model 4 days old" and gap == 4) or (reason.startswith("alarm: ") and 3 <= gap < 4), dues
    assert any(reason.startswith("alarm: ") for _, reason in dues), dues  # the shifted days made a training due
    assert racing["models"] == nightly["models"]  # the same versions: same data dates, windows, metrics, decisions
    assert racing["predictions"] == nightly["predictions"]  # every day scored by the same model, row for row
    # and that model is the one the policy had made champion as of each day
    decisions = ledger.history("racing")
    for day in DAYS:
        assert scoring.read_manifest(day)["model_version"] == schedule.as_of(day, decisions)
