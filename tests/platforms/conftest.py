"""The aws profile against a moto server in this process, with the cloud twin playing EMR steps and
SageMaker jobs (tests/aws_twin.py), and the DAG files parsed under that profile."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from aws_twin import CODE, LAKE, Twin, environment


@pytest.fixture(scope="module")
def aws(s3_endpoint, spark):
    """The account of a test module: its buckets and roles (kept across modules: moto runs once a session),
    the aws profile's settings in the environment, and the twin playing steps and jobs."""
    import contextlib

    twin = Twin(s3_endpoint)
    s3, iam = twin.client("s3"), twin.client("iam")
    for bucket in (LAKE, CODE):
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=bucket)
    trusts = json.loads((Path(__file__).resolve().parents[2] / "deploy/aws/iam/trust-policies.json").read_text())
    for role in ("EMR_DefaultRole", "EMR_EC2_DefaultRole", "contrail-sagemaker"):
        with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
            iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trusts[role]))
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_instance_profile(InstanceProfileName="EMR_EC2_DefaultRole")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in environment(s3_endpoint).items():
            patch.setenv(key, value)
        with twin.running():
            yield twin
    assert twin.errors == [], "\n".join(twin.errors)
    assert_allowed_by_the_airflow_role()


def assert_allowed_by_the_airflow_role() -> None:
    """Every AWS action the hooks called in these tests is granted by deploy/aws/iam/airflow-role.json."""
    import emulators

    policy = json.loads((Path(__file__).resolve().parents[2] / "deploy/aws/iam/airflow-role.json").read_text())
    granted = {a for s in policy["Statement"] if s["Effect"] == "Allow" for a in s["Action"]}
    checked = {"elasticmapreduce", "sagemaker", "logs", "iam", "glue", "secretsmanager"}
    called = {c for c in emulators.CALLS.calls if c.split(":")[0] in checked}
    assert called, "no AWS call was recorded"
    missing = sorted(called - granted)
    assert not missing, f"the aws profile called {missing}, which deploy/aws/iam/airflow-role.json does not grant"


@pytest.fixture(scope="module")
def aws_dags(aws, airflow_db):
    """The DAG files parsed under the aws profile; every task fails at once instead of retrying."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert bag.import_errors == {}
    for dag in bag.dags.values():
        for task in dag.tasks:
            task.retries = 0
    return bag
