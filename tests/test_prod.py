"""The production shape run for real (contrail.prod, what `make prod` starts): CeleryExecutor with a Redis
broker, login required, the MLflow server on PostgreSQL with its artifacts in S3 (moto), driven through the
REST API with the official client (apache-airflow-client) and a token."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import prod_shape

pytestmark = [pytest.mark.airflow, pytest.mark.spark]


def status(url: str, method: str = "GET", token: str | None = None, body: dict | None = None) -> int:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_anonymous_requests_and_wrong_passwords_are_refused(prod_runs):
    url = prod_runs.shape.url
    assert status(f"{url}/api/v2/dags") == 401
    assert status(f"{url}/api/v2/dags/contrail_ingest", "PATCH", body={"is_paused": True}) == 401
    assert status(f"{url}/contrail/run/contrail_features/any") in (401, 403)
    assert status(f"{url}/auth/token", "POST", body={"username": "admin", "password": "wrong"}) == 401
    assert status(f"{url}/api/v2/dags", token="not-a-token") == 403  # a token that does not verify


def test_the_nightly_run_and_the_backfill_ran_to_success_on_celery(prod_runs):
    ingest = prod_runs.runs["contrail_ingest"]
    assert sorted(str(r.run_type.value) for r in ingest) == ["backfill"] * len(prod_shape.BACKFILL) + ["scheduled"]
    assert {str(r.logical_date.date()) for r in ingest if r.run_type == "backfill"} == set(prod_shape.BACKFILL)
    failed = {dag: [r.dag_run_id for r in runs if r.state != "success"] for dag, runs in prod_runs.runs.items()}
    assert not any(failed.values()), failed
    lake = Path(prod_runs.shape.env["CONTRAIL_DATA_ROOT"])
    for day in (*prod_shape.BACKFILL, prod_runs.nightly_day):
        assert list((lake / "features" / f"dt={day}").glob("*.parquet")), f"no features for {day}"
    # every task ran in the Celery worker: its log has one finished workload per task instance that ran
    import airflow_client.client as af

    tis = af.TaskInstanceApi(prod_shape.client(prod_runs.shape.url, prod_runs.admin_token))
    ran = [ti for dag in ("contrail_ingest", "contrail_features") for run in prod_runs.runs[dag]
           for ti in tis.get_task_instances(dag, run.dag_run_id).task_instances if ti.state in ("success", "failed")]
    worker_log = (prod_runs.shape.deployment.logs / "celery-worker.log").read_text()
    assert ran and worker_log.count("Workload finished") >= len(ran)


def test_the_rest_api_lists_triggers_and_backfills_with_a_token(prod_runs):
    import airflow_client.client as af
    from airflow_client.client.models import TriggerDAGRunPostBody

    api = prod_shape.client(prod_runs.shape.url, prod_runs.admin_token)
    listed = {d.dag_id for d in af.DAGApi(api).get_dags(limit=100).dags}
    assert {"contrail_ingest", "contrail_features", "contrail_housekeeping"} <= listed
    backfills = af.BackfillApi(api).list_backfills("contrail_ingest").backfills
    assert [(str(b.from_date.date()), str(b.to_date.date())) for b in backfills] == [prod_shape.BACKFILL]
    from airflow_client.client.models import DAGPatchBody

    runs = af.DagRunApi(api)
    af.DAGApi(api).patch_dag("contrail_housekeeping", DAGPatchBody(is_paused=False))  # a paused DAG's runs stay queued
    run = runs.trigger_dag_run("contrail_housekeeping", TriggerDAGRunPostBody(logical_date=None))

    def settled():
        current = runs.get_dag_run("contrail_housekeeping", run.dag_run_id)
        return current if current.state in ("success", "failed") else None

    done = prod_shape.wait("the triggered housekeeping run", settled, prod_runs.shape, 300)
    assert done.state == "success" and done.run_type == "manual"


def test_a_viewer_can_read_but_not_change_anything(prod_runs):
    url = prod_runs.shape.url
    viewer = prod_shape.token(url, "viewer", prod_runs.shape.password("viewer"))
    assert status(f"{url}/api/v2/dags?limit=1", token=viewer) == 200
    assert status(f"{url}/api/v2/dags/contrail_ingest", "PATCH", viewer, {"is_paused": True}) == 403
    assert status(f"{url}/api/v2/dags/contrail_ingest/dagRuns", "POST", viewer, {"logical_date": None}) == 403


def test_the_mlflow_server_keeps_artifacts_in_object_storage(prod_runs, tmp_path):
    import boto3
    import mlflow

    from contrail import prod

    env = prod.s3_env(prod_runs.shape.env, prod_runs.shape.ports)
    client = mlflow.MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    experiment = client.create_experiment("prod-shape-artifacts")
    run = client.create_run(experiment)
    (tmp_path / "canary.txt").write_text("kept in S3")
    client.log_artifact(run.info.run_id, str(tmp_path / "canary.txt"))
    s3 = boto3.client("s3", endpoint_url=env["MLFLOW_S3_ENDPOINT_URL"], region_name="us-east-1",
                      aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=prod.ARTIFACTS_BUCKET).get("Contents", [])]
    assert any(k.endswith(f"{run.info.run_id}/artifacts/canary.txt") for k in keys), keys


def test_no_secret_reaches_a_log(prod_runs):
    from contrail import prod

    secret_values = [v for v in prod.secrets(prod_runs.shape.state).values() if len(v) >= 16]
    logs = [p for folder in (prod_runs.shape.deployment.logs, Path(prod_runs.shape.env["AIRFLOW_HOME"]) / "logs")
            for p in folder.rglob("*") if p.is_file()]
    assert logs
    leaked = [str(p) for p in logs if any(v in p.read_text(errors="replace") for v in secret_values)]
    assert not leaked, leaked


def test_the_late_nightly_run_alerts_once_and_the_late_backfill_runs_do_not(prod_runs):
    scheduled = next(r for r in prod_runs.runs["contrail_ingest"] if r.run_type == "scheduled")
    late = prod_shape.wait("the deadline alert (scheduler, then triggerer)",
                           lambda: prod_runs.alerts.events("deadline_missed"), prod_runs.shape, 120)
    assert [(m["dag_id"], m["run_id"]) for m in late] == [("contrail_ingest", scheduled.dag_run_id)]
    assert {r["path"] for r in prod_runs.alerts.requests} == {prod_shape.ALERTS_PATH}
    assert prod_runs.alerts.events("failed") == []  # every task succeeded (the failure path: tests/test_alerts.py)


def test_airflows_metrics_and_the_pipelines_own_reach_statsd(prod_runs):
    from contrail.quality import ledger

    statsd, lake_env = prod_runs.statsd, prod_runs.shape.env
    assert statsd.values("airflow.scheduler_heartbeat") and statsd.values("airflow.dagrun.duration.success.contrail_ingest")
    with_env = {"CONTRAIL_DATA_ROOT": lake_env["CONTRAIL_DATA_ROOT"], "CONTRAIL_PROFILE": "local"}
    with pytest.MonkeyPatch.context() as env:
        for key, value in with_env.items():
            env.setenv(key, value)
        rows = {int(ledger.read_verdict("flights", day)["rows_in"]) for day in (*prod_shape.BACKFILL, prod_runs.nightly_day)}
    sent = {int(float(v)) for v in statsd.values("airflow.contrail.quality.flights.rows_in")}
    assert rows <= sent, (rows, sent)  # each gated day's row count, as its gate task sent it
    assert {float(v) for v in statsd.values("airflow.contrail.quality.flights.failed")} == {0.0}
