"""The production shape (contrail.prod, what `make prod` runs) started for the tests, with runs made through REST.

One deployment per session, in its own folder and on free ports (its own PostgreSQL, Redis, moto,
MLflow server, Spark Connect server and Airflow on Celery), shared by the REST and browser tests:
the DAGs are unpaused (the scheduler makes the nightly run of today, replayed onto 2013) and a
backfill of BACKFILL days is created through the official client with a token, then it waits
until every ingest and feature run has finished.
"""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.request
from pathlib import Path

from contrail import prod
from contrail.local_run import DAG_IDS
from peers import StatsdPeer, WebhookPeer

BACKFILL = ("2013-04-02", "2013-04-03")
ALERTS_PATH = "/hooks/contrail"
DEADLINE_MINUTES = 0.05  # 3 s: every run of contrail_ingest takes longer, so each misses it
FOLLOWERS = ("contrail_ingest", "contrail_features")  # what the days must run through (training needs 7 days)


def token(url: str, user: str, password: str) -> str:
    request = urllib.request.Request(f"{url}/auth/token", data=json.dumps({"username": user, "password": password}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201
        return json.load(response)["access_token"]


def client(url: str, access_token: str):
    import airflow_client.client as af

    return af.ApiClient(af.Configuration(host=url, access_token=access_token))


@dataclasses.dataclass
class Runs:
    shape: prod.Shape
    alerts: WebhookPeer  # the requests the deployment's notifications made
    statsd: StatsdPeer  # the metrics it sent
    admin_token: str
    nightly_day: str
    runs: dict[str, list]  # dag_id -> DAGRunResponse of every run, when all had finished
    seconds: float


def wait(what: str, ready, shape: prod.Shape, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        shape.deployment.check_alive()
        found = ready()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}; logs in {shape.deployment.logs}")
        time.sleep(3)


def run(state: Path, timeout: float = 900) -> Runs:
    """Start the shape in `state`, unpause, backfill over REST and wait; the caller stops `shape`."""
    t0 = time.monotonic()
    alerts = WebhookPeer()
    # every task failure and retry, and a nightly run not done DEADLINE_MINUTES after it was queued, post to the peer
    statsd = StatsdPeer()  # Airflow's metrics and the pipeline's own
    shape = prod.Shape(state, prod.Ports.free(), CONTRAIL_ALERTS_CONN_ID="contrail_alerts",
                       AIRFLOW_CONN_CONTRAIL_ALERTS=alerts.connection(ALERTS_PATH),
                       CONTRAIL_NIGHTLY_DEADLINE_MINUTES=str(DEADLINE_MINUTES),
                       AIRFLOW__METRICS__STATSD_ON="True", AIRFLOW__METRICS__STATSD_HOST="127.0.0.1",
                       AIRFLOW__METRICS__STATSD_PORT=str(statsd.port))
    try:
        return _run(shape, alerts, statsd, t0, timeout)
    except BaseException:
        shape.stop()
        alerts.close()
        statsd.close()
        raise


def _run(shape: prod.Shape, alerts: WebhookPeer, statsd: StatsdPeer, t0: float, timeout: float) -> Runs:
    import airflow_client.client as af
    from airflow_client.client.models import BackfillPostBody, DAGPatchBody

    shape.start()
    admin = token(shape.url, "admin", shape.password("admin"))
    api = client(shape.url, admin)
    dags, dag_runs = af.DAGApi(api), af.DagRunApi(api)

    def parsed():
        found = {d.dag_id: d for d in dags.get_dags(dag_id_pattern="contrail_", limit=100).dags}
        return all(d in found for d in DAG_IDS) and found

    wait("the DAGs to be parsed", parsed, shape, 300)
    for dag_id in DAG_IDS:
        dags.patch_dag(dag_id, DAGPatchBody(is_paused=False))
    af.BackfillApi(api).create_backfill(BackfillPostBody(
        dag_id="contrail_ingest", from_date=f"{BACKFILL[0]}T00:00:00Z", to_date=f"{BACKFILL[-1]}T00:00:00Z",
        reprocess_behavior="completed", max_active_runs=2))

    assets = af.AssetApi(api)

    def finished():
        runs = {dag_id: dag_runs.get_dag_runs(dag_id, limit=100).dag_runs for dag_id in DAG_IDS}
        settled = all(r.state in ("success", "failed") for rs in runs.values() for r in rs)
        # one scheduled and len(BACKFILL) backfill runs of ingest; a features run started after the last raw
        # flights event (it builds every day whose features are older than its flights, whichever event came)
        events = assets.get_asset_events(name_pattern="raw_flights", limit=100).asset_events
        features = [r.start_date for r in runs["contrail_features"] if r.start_date]
        if settled and len(runs["contrail_ingest"]) == 1 + len(BACKFILL) and events and features and \
                max(features) >= max(e.timestamp for e in events):
            return runs
        return None

    runs = wait("the nightly and backfill runs", finished, shape, timeout)
    scheduled = next(r for r in runs["contrail_ingest"] if r.run_type == "scheduled")
    from contrail.dates import data_date

    return Runs(shape, alerts, statsd, admin, f"{data_date(scheduled.logical_date):%Y-%m-%d}", runs, time.monotonic() - t0)
