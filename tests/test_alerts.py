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


def test_a_failing_task_notifies_each_retry_and_its_failure_with_what_and_where(airflow_db, peer, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("CONTRAIL_REPLAY_YEARS", "0")  # so that a 2014 date has no source data: the task fails
    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag("contrail_ingest")
    dag = dag.partial_subset(["land_weather"], include_upstream=False, include_downstream=False)
    task = dag.get_task("land_weather")
    task.retry_delay, task.retry_exponential_backoff = dt.timedelta(seconds=1), False  # the test's only change
    run = dag.test(logical_date=dt.datetime(2014, 1, 5, tzinfo=dt.timezone.utc))
    assert run.state == "failed"
    assert {r["method"] for r in peer.requests} == {"POST"} and {r["path"] for r in peer.requests} == {HOOK_PATH}
    assert all(r["headers"]["Content-Type"] == "application/json" for r in peer.requests)
    retries, failures = peer.events("up_for_retry"), peer.events("failed")
    assert [m["try_number"] for m in retries] == [str(n) for n in range(1, task.retries + 1)]
    assert [m["try_number"] for m in failures] == [str(task.retries + 1)]
    for message in retries + failures:
        assert (message["dag_id"], message["task_id"], message["run_id"]) == ("contrail_ingest", "land_weather", run.run_id)
        assert "no source data for 2014-01-05" in message["error"] and "no source data" in message["text"]
        assert message["url"].startswith(os.environ["AIRFLOW__API__BASE_URL"]) and "land_weather" in message["url"]


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
