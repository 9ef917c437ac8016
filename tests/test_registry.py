"""Promotion, refusal and rollback against real MLflow stores: the embedded PostgreSQL database (the local
default), the MLflow server on PostgreSQL (production), and the SQLite fallback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

import synthetic_features as synthetic
from contrail.registry import ledger, locks, promotion, tracking
from contrail.training import run, window

# Windows of 10 days (train 6 / validation 2 / holdout 2): the holdout days always carry the full signal.
WINDOWS = {
    "hour": ("2013-02-01", ["hour"] * 6 + ["full"] * 4),  # learns the hour only: a fair model
    "full": ("2013-02-11", ["full"] * 10),  # learns everything: the best model
    "hour2": ("2013-02-21", ["hour"] * 6 + ["full"] * 4),  # another fair model, on other days
    "none": ("2013-03-03", ["none"] * 10),  # coin-flip labels: below the minimum
}


@pytest.fixture(scope="module")
def windows():
    return {name: window.split(synthetic.write_days(start, 10, signals)) for name, (start, signals) in WINDOWS.items()}


@pytest.fixture(params=["database", "server", "sqlite"])
def backend(request, monkeypatch, tmp_path_factory):
    """Each test on the PostgreSQL database store (advisory lock on it), the MLflow server (PostgreSQL backend,
    advisory lock on CONTRAIL_PROMOTION_LOCK_URL) and a SQLite file (file lock)."""
    if request.param == "sqlite":
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path_factory.mktemp('sqlite')}/mlflow.db")
        monkeypatch.delenv("CONTRAIL_PROMOTION_LOCK_URL")
    elif request.param == "database":
        monkeypatch.delenv("CONTRAIL_PROMOTION_LOCK_URL")  # the store is its own lock database
    elif request.param == "server":
        uri, lock_url = request.getfixturevalue("server")
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        monkeypatch.setenv("CONTRAIL_PROMOTION_LOCK_URL", lock_url)
    return request.param


@pytest.fixture
def name(backend):
    return f"delay_{backend}_{uuid.uuid4().hex[:8]}"


def aliases(name):
    client = tracking.client()
    return {a: promotion.alias_version(client, name, a) for a in ("champion", "previous")}


def version_tags(name, version):
    return tracking.client().get_model_version(name, version).tags


def test_promote_refuse_and_roll_back(windows, name):
    fair = run.train(windows["hour"], model_name=name)
    first = promotion.promote(name, fair["version"])
    assert first["promoted"] and "no champion yet" in " ".join(first["reasons"])
    assert aliases(name) == {"champion": "1", "previous": None}

    best = run.train(windows["full"], model_name=name)
    second = promotion.promote(name, best["version"])
    assert second["promoted"], second["reasons"]
    assert second["metrics"]["roc_auc"] > second["champion_metrics"]["roc_auc"]
    assert aliases(name) == {"champion": "2", "previous": "1"}

    other = run.train(windows["hour2"], model_name=name)
    third = promotion.promote(name, other["version"])
    assert not third["promoted"] and third["champion"] == "2"
    assert aliases(name) == {"champion": "2", "previous": "1"}
    tags = version_tags(name, "3")
    assert tags["contrail.decision"] == "refused" and tags["contrail.decided_against"] == "2"
    assert "vs champion" in tags["contrail.decision_reasons"]
    assert version_tags(name, "2")["contrail.decision"] == "promoted"

    back = promotion.rollback(name, "bad predictions in prod", request_id="run-1")
    assert (back["champion"], back["rolled_back"]) == ("1", "2")
    assert aliases(name) == {"champion": "1", "previous": None}  # v1 replaced no one
    assert version_tags(name, "2")["contrail.rolled_back"] == "bad predictions in prod"
    assert promotion.rollback(name, "bad predictions in prod", request_id="run-1")["champion"] == "1"  # a retry
    with pytest.raises(promotion.PromotionError, match="no previous champion to roll back to"):
        promotion.rollback(name, "again", request_id="run-2")
    assert [(e["action"], e["version"], e["champion_before"]) for e in ledger.history(name)] == [
        ("promoted", "1", None), ("promoted", "2", "1"), ("refused", "3", "2"), ("rolled_back", "1", "2")]


def test_a_first_model_below_the_minimum_is_refused(windows, name):
    chance = run.train(windows["none"], model_name=name)
    decision = promotion.promote(name, chance["version"])
    assert not decision["promoted"] and "< minimum" in decision["reasons"][0]
    assert aliases(name) == {"champion": None, "previous": None}
    with pytest.raises(promotion.PromotionError, match="has no champion to roll back"):
        promotion.rollback(name)


def promote_in_subprocess(name, version):
    code = ("import json, sys; from contrail.registry import promotion; "
            f"print('RESULT ' + json.dumps(promotion.promote({name!r}, {version!r})))")
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=os.environ.copy())


def result_of(proc) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])


# the two lock kinds: advisory (on the server's lock database; "database" takes the same lock on its store) and file
@pytest.mark.parametrize("backend", ["server", "sqlite"], indirect=True)
def test_a_promotion_waits_for_the_lock_before_reading_the_champion(windows, name):
    fair = run.train(windows["hour"], model_name=name)
    best = run.train(windows["full"], model_name=name)
    promotion.promote(name, fair["version"])
    with locks.promotion_lock(name):
        proc = promote_in_subprocess(name, best["version"])
        time.sleep(12)  # ample for the child to import, score and reach the lock
        assert proc.poll() is None and aliases(name)["champion"] == "1"
    assert result_of(proc)["promoted"] and aliases(name) == {"champion": "2", "previous": "1"}


# the two lock kinds: advisory (on the server's lock database; "database" takes the same lock on its store) and file
@pytest.mark.parametrize("backend", ["server", "sqlite"], indirect=True)
def test_two_promotions_at_once_end_with_the_better_model(windows, name):
    base = run.train(windows["none"], model_name=name)  # a weak champion, promoted past the gate's minimum
    promotion.promote(name, base["version"], promotion.gate.GateConfig(min_value=0.0))
    fair = run.train(windows["hour2"], model_name=name)
    best = run.train(windows["full"], model_name=name)
    procs = [promote_in_subprocess(name, v) for v in (fair["version"], best["version"])]
    results = [result_of(p) for p in procs]
    assert aliases(name)["champion"] == best["version"], results
    events = [e for e in ledger.history(name) if e["version"] != base["version"]]
    assert len(events) == 2
    # serialised: the second decision was taken against the first one's outcome
    assert events[1]["champion_before"] == events[0]["champion_after"]
    if events[0]["version"] == best["version"]:
        assert events[1]["action"] == "refused"
    else:
        assert [e["action"] for e in events] == ["promoted", "promoted"]


def test_an_unreachable_tracking_server_is_a_clear_error_before_any_training(windows, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    with pytest.raises(tracking.TrackingUnavailable, match="http://127.0.0.1:9 is unreachable"):
        run.train(windows["full"], model_name="never")
    with pytest.raises(tracking.TrackingUnavailable, match="unreachable"):
        promotion.promote("never", "1")


def test_an_unreachable_database_store_is_a_clear_error_naming_how_to_start_it(windows, monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"postgresql+psycopg2://postgres@/mlflow?host={tmp_path}")
    with pytest.raises(tracking.TrackingUnavailable, match=r"unreachable.*python -m contrail.postgres start"):
        run.train(windows["full"], model_name="never")


def test_a_server_store_without_a_lock_database_refuses_to_promote(monkeypatch, server):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server[0])
    monkeypatch.delenv("CONTRAIL_PROMOTION_LOCK_URL", raising=False)
    with pytest.raises(locks.ConfigError, match="needs CONTRAIL_PROMOTION_LOCK_URL"):
        with locks.promotion_lock("any"):
            pass
