"""Scenario 11: secrets.

Canary values in the lake, alerts and MLflow connections must never reach a task log, an XCom, a
rendered template, an alert's text, an error message or the cockpit's report, through real runs of the
real DAGs (`dag.test`): a landing that fails on S3 while the alerts webhook is down (its error quotes
the webhook's address, which is the secret), and a rollback that fails while MLflow's URL carries a
password. Then Fernet: connections stored in the metadata database still decrypt after
`airflow rotate-fernet-key` with AIRFLOW__CORE__FERNET_KEY="new,old".

MLflow has no Airflow connection here: its credentials ride in MLFLOW_TRACKING_URI (and
CONTRAIL_PROMOTION_LOCK_URL), which is where its canary goes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from peers import WebhookPeer

pytestmark = pytest.mark.airflow
SCENARIO = "11 secrets"


def canary(what: str) -> str:
    return f"canary-{what}-{uuid.uuid4().hex}"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stored(run) -> dict[str, str]:
    """What Airflow keeps of a run besides its log: XComs, rendered templates, the run's conf."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        xcoms = session.scalars(select(XComModel).where(XComModel.run_id == run.run_id)).all()
        rendered = session.scalars(select(RenderedTaskInstanceFields).where(
            RenderedTaskInstanceFields.run_id == run.run_id)).all()
        return {"XComs": json.dumps([x.value for x in xcoms], default=str),
                "rendered templates": json.dumps([r.rendered_fields for r in rendered], default=str),
                "run conf": json.dumps(run.conf, default=str)}


def run_captured(capfd, dag, **kwargs):
    """dag.test() and its task log as a worker stores it. dag.test runs the tasks here and prints their raw
    events (pytest's logging has no masking step); a worker's log goes through the task SDK's masking
    processor, `airflow.sdk.log.mask_logs`, with the secrets the task registered (`mask_secret`) in this
    process: the same processor is applied to the captured events."""
    from airflow.sdk.log import mask_logs

    capfd.readouterr()
    run = dag.test(**kwargs)
    out, err = capfd.readouterr()
    return run, mask_logs(None, "info", {"event": out + err})["event"]


def assert_absent(secrets: list[str], texts: dict[str, str]) -> int:
    """Fail naming where a secret shows; return how many lines (of logs, XComs, ...) were searched."""
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"a secret leaked into {where}: ...{text[max(0, text.find(secret) - 300):][:600]}"
    return sum(text.count("\n") + 1 for text in texts.values())


def only(dag, task_id: str):
    dag = dag.partial_subset([task_id], include_upstream=False, include_downstream=False)
    dag.get_task(task_id).retries = 0
    return dag


def test_a_failed_landing_on_s3_with_the_webhook_down_leaks_no_secret(airflow_db, s3_endpoint, monkeypatch, capfd,
                                                                       fault_report):
    from contrail import cockpit_pages

    lake_secret, lake_token, hook_path, hook_password = (canary(w) for w in ("lake", "token", "hook-path", "hook-pw"))
    monkeypatch.setenv("AIRFLOW_CONN_CANARY_LAKE", json.dumps({
        "conn_type": "aws", "login": "testing", "password": lake_secret,
        "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1", "aws_session_token": lake_token}}))
    monkeypatch.setenv("AIRFLOW_CONN_CANARY_ALERTS", json.dumps({
        "conn_type": "http", "host": f"http://127.0.0.1:{closed_port()}/services/T0/B0/{hook_path}",
        "login": "hook", "password": hook_password}))
    monkeypatch.setenv("CONTRAIL_ALERTS_CONN_ID", "canary_alerts")
    session_lake = {k: os.environ[k] for k in ("CONTRAIL_PROFILE", "CONTRAIL_DATA_ROOT")}
    monkeypatch.setenv("CONTRAIL_PROFILE", "aws")
    monkeypatch.setenv("CONTRAIL_AWS_CONN_ID", "canary_lake")
    monkeypatch.setenv("CONTRAIL_DATA_ROOT", f"s3://no-bucket-{uuid.uuid4().hex[:12]}/contrail")  # the write fails
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / "contrail_ingest.py")).get_dag(
        "contrail_ingest")  # parsed again: the alerts connection is read when the DAG is defined
    run, log = run_captured(capfd, only(dag, "land_weather"), logical_date=dt.datetime(2013, 1, 5, tzinfo=dt.timezone.utc))
    assert run.state == "failed"
    assert "could not write s3://" in log, "the task never reached the lake through its connection"
    assert "Failed to send notification" in log and "Max retries exceeded with url: ***" in log, \
        "the unreachable webhook's error is not in the log (or its address is not masked)"
    for key, value in session_lake.items():
        monkeypatch.setenv(key, value)
    report = cockpit_pages.run_report("contrail_ingest", run.run_id)
    assert run.run_id in report
    checked = assert_absent([lake_secret, lake_token, hook_path, hook_password],
                            {"the task log": log, "the cockpit's run report": report, **stored(run)})
    fault_report.add(SCENARIO, faults=4, cases=4, rows=checked)


def test_a_failed_rollback_names_its_store_without_the_password(airflow_db, monkeypatch, capfd, fault_report):
    store_pw, lock_pw, hook_path, hook_pw = (canary(w) for w in ("mlflow", "lock", "hook-path", "hook-pw"))
    for setting, secret in (("MLFLOW_TRACKING_URI", store_pw), ("CONTRAIL_PROMOTION_LOCK_URL", lock_pw)):
        # the embedded PostgreSQL trusts its socket, so the password is carried and ignored
        monkeypatch.setenv(setting, os.environ[setting].replace("postgres@", f"postgres:{secret}@", 1))
    peer = WebhookPeer()
    path = f"/services/T0/B0/{hook_path}"
    monkeypatch.setenv("AIRFLOW_CONN_CANARY_ALERTS", json.dumps({**json.loads(peer.connection(path)), "password": hook_pw}))
    monkeypatch.setenv("CONTRAIL_ALERTS_CONN_ID", "canary_alerts")
    from airflow.dag_processing.dagbag import DagBag

    try:
        dag = DagBag(dag_folder=str(Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / "contrail_model_rollback.py")).get_dag(
            "contrail_model_rollback")
        run, log = run_captured(capfd, only(dag, "rollback"), run_conf={"model": f"nochamp_{uuid.uuid4().hex[:8]}"})
    finally:
        peer.close()
    assert run.state == "failed"
    assert "has no champion to roll back (registry postgresql+psycopg2://postgres:***@" in log, log[-3000:]
    (alert,) = peer.events("failed")
    assert [r["path"] for r in peer.requests] == [path] and "has no champion to roll back" in alert["error"]
    checked = assert_absent([store_pw, lock_pw, hook_path, hook_pw],
                            {"the task log": log, "the alert": json.dumps([(r["headers"], r["json"]) for r in peer.requests]),
                             **stored(run)})
    fault_report.add(SCENARIO, faults=4, cases=3, rows=checked)


def test_a_lake_url_with_credentials_is_refused_without_repeating_them(monkeypatch, fault_report):
    from airflow.sdk.log import _secrets_masker

    from contrail import config, inputs

    secret = canary("url")
    monkeypatch.setenv("CONTRAIL_PROFILE", "aws")
    monkeypatch.setenv("CONTRAIL_DATA_ROOT", f"s3://AKIAEXAMPLE:{secret}@bucket/lake")
    with pytest.raises(inputs.BadInput, match="AKIAEXAMPLE:\\*\\*\\*@bucket.*holds credentials") as refused:
        config.profile()
    assert secret not in str(refused.value)
    assert secret not in _secrets_masker().redact(f"anything quoting it: {secret}")  # and the masker knows it
    fault_report.add(SCENARIO, faults=1, cases=2, rows=1)


def test_stored_connections_still_decrypt_after_a_fernet_key_rotation(airflow_db, monkeypatch, fault_report):
    from airflow.configuration import conf
    from airflow.models import Connection
    from airflow.models.crypto import get_fernet
    from airflow.utils.session import create_session
    from cryptography.fernet import Fernet, InvalidToken
    from sqlalchemy import select

    old = conf.get("core", "fernet_key")
    assert old, "the test session has no Fernet key: connections would be stored in clear"
    new = Fernet.generate_key().decode()
    conn_id, secret, extra = f"canary_fernet_{uuid.uuid4().hex[:8]}", canary("fernet"), canary("fernet-extra")

    def stored_tokens() -> tuple[str, str]:  # the columns as stored (loading a Connection decrypts it)
        table = Connection.__table__
        with create_session() as session:
            return tuple(session.execute(select(table.c.password, table.c.extra).where(table.c.conn_id == conn_id)).one())

    def rotate(keys: str) -> None:  # as an operator does: the CLI, with the new key first
        env = {**os.environ, "AIRFLOW__CORE__FERNET_KEY": keys}
        done = subprocess.run([str(Path(sys.executable).parent / "airflow"), "rotate-fernet-key"], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]

    def rotate_back() -> None:  # the same command, in this process (a second CLI start costs ~10 s)
        from argparse import Namespace

        from airflow.cli.commands.rotate_fernet_key_command import rotate_fernet_key

        monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", f"{old},{new}")
        get_fernet.cache_clear()
        rotate_fernet_key(Namespace())

    with create_session() as session:
        session.add(Connection(conn_id=conn_id, conn_type="http", host="example.invalid", password=secret,
                               extra=json.dumps({"token": extra})))
    try:
        before = stored_tokens()
        assert secret not in before[0] and extra not in before[1]  # encrypted at rest
        rotate(f"{new},{old}")  # the CLI re-encrypts every connection, variable and trigger with the first key
        after = stored_tokens()
        assert after != before
        assert Fernet(new).decrypt(after[0].encode()).decode() == secret
        with pytest.raises(InvalidToken):
            Fernet(old).decrypt(after[0].encode())  # rotated for real: the old key alone no longer reads it
        monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", new)  # a deployment that has dropped the old key
        get_fernet.cache_clear()
        with create_session() as session:
            row = session.scalar(select(Connection).where(Connection.conn_id == conn_id))
            assert (row.password, row.extra_dejson) == (secret, {"token": extra})
    finally:  # back to the session's key, for every other row and test
        rotate_back()
        monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", old)
        get_fernet.cache_clear()
        with create_session() as session:
            row = session.scalar(select(Connection).where(Connection.conn_id == conn_id))
            assert row.password == secret  # readable with the session's key again
            session.delete(row)
        monkeypatch.undo()
        get_fernet.cache_clear()
    fault_report.add(SCENARIO, faults=1, cases=3, rows=1)
