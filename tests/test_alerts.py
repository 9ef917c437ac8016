"""Failure and retry notifications of the real DAGs, sent through the http provider's notifier to a local
webhook peer that records the exact request; the nightly deadline's settings. (The deadline firing under a
real scheduler and triggerer is in tests/test_prod.py.)"""

from __future__ import annotations

import datetime as dt
import os

import pytest

from contrail import alerts
from peers import WebhookPeer

pytestmark = pytest.mark.airflow
HOOK_PATH = "/services/T000/B000/canary-webhook-path"  # the address is a secret: it lives in the connection only


@pytest.fixture
def peer(monkeypatch):
    peer = WebhookPeer()
    monkeypatch.setenv("CONTRAIL_ALERTS_CONN_ID", "contrail_alerts")
    monkeypatch.setenv("AIRFLOW_CONN_CONTRAIL_ALERTS", peer.connection(HOOK_PATH))
    yield peer
    peer.close()


def run_land_weather(day: dt.date):
    """The real contrail_ingest's land_weather task for `day`, with its retries one second apart (the test's only change)."""
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag("contrail_ingest")
    dag = dag.partial_subset(["land_weather"], include_upstream=False, include_downstream=False)
    task = dag.get_task("land_weather")
    task.retry_delay, task.retry_exponential_backoff = dt.timedelta(seconds=1), False
    run = dag.test(logical_date=dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc))
    assert run.state == "failed"
    return run, task.retries


def check_messages(peer, run, messages, error: str) -> None:
    assert {r["method"] for r in peer.requests} == {"POST"} and {r["path"] for r in peer.requests} == {HOOK_PATH}
    assert all(r["headers"]["Content-Type"] == "application/json" for r in peer.requests)
    for message in messages:
        assert (message["dag_id"], message["task_id"], message["run_id"]) == ("contrail_ingest", "land_weather", run.run_id)
        assert error in message["error"] and error in message["text"]
        assert message["url"].startswith(os.environ["AIRFLOW__API__BASE_URL"]) and "land_weather" in message["url"]


def test_a_task_failing_for_a_passing_reason_notifies_each_retry_and_its_failure(airflow_db, peer, monkeypatch, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")  # the lake's root lies under a file: every write fails, as a store that is down would
    monkeypatch.setenv("CONTRAIL_DATA_ROOT", str(blocked / "lake"))
    run, retries = run_land_weather(dt.date(2013, 1, 5))
    ups, failures = peer.events("up_for_retry"), peer.events("failed")
    assert [m["try_number"] for m in ups] == [str(n) for n in range(1, retries + 1)]
    assert [m["try_number"] for m in failures] == [str(retries + 1)]
    check_messages(peer, run, ups + failures, "could not write")


def test_a_failure_no_retry_can_change_notifies_once_without_retrying(airflow_db, peer, monkeypatch):
    monkeypatch.setenv("CONTRAIL_REPLAY_YEARS", "0")  # so that a 2014 date has no source data
    run, retries = run_land_weather(dt.date(2014, 1, 5))
    assert retries == 2 and peer.events("up_for_retry") == []
    failures = peer.events("failed")
    assert [m["try_number"] for m in failures] == ["1"]
    check_messages(peer, run, failures, "no source data for 2014-01-05")


def test_without_a_connection_nothing_is_attached():
    assert alerts.task_callbacks({}) == {} and alerts.nightly_deadline({}) is None


def test_the_nightly_deadline_follows_the_setting_and_refuses_a_bad_one():
    deadline = alerts.nightly_deadline({"CONTRAIL_ALERTS_CONN_ID": "c", "CONTRAIL_NIGHTLY_DEADLINE_MINUTES": "90"})
    assert deadline.interval == dt.timedelta(minutes=90)
    assert alerts.nightly_deadline({"CONTRAIL_ALERTS_CONN_ID": "c"}).interval == dt.timedelta(minutes=120)
    with pytest.raises(ValueError, match="CONTRAIL_NIGHTLY_DEADLINE_MINUTES='soon'.*minutes"):
        alerts.nightly_deadline({"CONTRAIL_ALERTS_CONN_ID": "c", "CONTRAIL_NIGHTLY_DEADLINE_MINUTES": "soon"})


def test_a_late_backfill_run_is_no_alarm_and_a_late_nightly_one_says_which(peer):
    import asyncio

    context = {"dag_run": {"dag_id": "contrail_ingest", "dag_run_id": "backfill__2013-04-02", "run_type": "backfill",
                           "state": "running"}, "deadline": {"deadline_time": "2026-12-01T02:00:00+00:00"}}
    asyncio.run(alerts.nightly_late(context, conn="contrail_alerts", minutes=120))
    assert peer.requests == []
    context["dag_run"].update(dag_run_id="scheduled__2026-12-01", run_type="scheduled")
    asyncio.run(alerts.nightly_late(context, conn="contrail_alerts", minutes=120))
    (request,) = peer.requests
    assert request["path"] == HOOK_PATH
    assert request["json"]["event"] == "deadline_missed" and request["json"]["run_id"] == "scheduled__2026-12-01"
    assert "not done 120 min after it was queued" in request["json"]["text"]
