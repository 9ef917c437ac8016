"""Test environment: a private Airflow home, SQLite database, data lake and Spark Connect server.

The variables are set before anything imports airflow, as Airflow reads its configuration once.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from contrail import localenv

_STATE = Path(tempfile.mkdtemp(prefix="contrail-test-"))
localenv.apply(
    environ={},  # the test environment never inherits a developer's running deployment
    CONTRAIL_STATE_DIR=str(_STATE),
    CONTRAIL_DATA_ROOT=str(_STATE / "data"),
    AIRFLOW_HOME=str(_STATE / "airflow"),
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{_STATE}/airflow/airflow.db",
    CONTRAIL_SPARK_CONNECT_PORT=os.environ.get("CONTRAIL_TEST_SPARK_PORT", "15112"),
    AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="18793",
    AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT="18794",
    MLFLOW_TRACKING_URI=f"sqlite:///{_STATE}/data/mlflow/mlflow.db",
    CONTRAIL_LANDING_URL=str(_STATE / "landing"),
)
(_STATE / "airflow").mkdir(parents=True, exist_ok=True)
atexit.register(shutil.rmtree, _STATE, ignore_errors=True)


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
def s3_endpoint():
    import emulators

    with emulators.moto_server() as url:
        yield url


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
