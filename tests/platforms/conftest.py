"""The cloud profiles' fixtures: aws against a moto server in this process, with the cloud twin playing EMR
steps and SageMaker jobs (tests/aws_twin.py); gcp against the GCS emulator and the Dataproc peer, with its twin
playing Dataproc jobs (tests/gcp_twin.py); azure against Azurite and the Livy twin (tests/livy_twin.py) playing the
HDInsight cluster; and the DAG files parsed under each profile."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from aws_twin import CODE, LAKE, Twin, environment

AZURE_LAKE, AZURE_CODE = "contrail-azure-lake", "contrail-azure-code"


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


def parsed_dags():
    """The DAG files parsed under the profile of the environment; every task fails at once instead of retrying."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert bag.import_errors == {}
    for dag in bag.dags.values():
        for task in dag.tasks:
            task.retries = 0
    return bag


@pytest.fixture(scope="module")
def aws_dags(aws, airflow_db):
    return parsed_dags()


@pytest.fixture(scope="module")
def gcp(gcs_endpoint, spark):
    """The project of a test module: its lake and code buckets on the GCS emulator (the code uploaded by the deploy
    command), Dataproc and Vertex AI peers bound to the hooks with the twin playing their jobs, the gcp settings
    in the environment."""
    import gcp_twin
    from dataproc_peer import DataprocPeer
    from emulators import gcs_environment
    from gcp_binding import bound

    import vertex_binding
    from vertex_peer import VertexPeer

    twin = gcp_twin.Twin()
    with pytest.MonkeyPatch.context() as patch, DataprocPeer(player=twin.player) as peer, \
            VertexPeer(player=twin.vertex_player) as vertex:
        for key, value in {**gcs_environment(gcs_endpoint, gcp_twin.CONN, gcp_twin.PROJECT), **gcp_twin.environment()}.items():
            patch.setenv(key, value)
        with bound(peer, patch, conn_id=gcp_twin.CONN, project=gcp_twin.PROJECT), \
                vertex_binding.bound(vertex, patch, conn_id=gcp_twin.CONN, project=gcp_twin.PROJECT):
            hook = twin.hook()
            for bucket in (gcp_twin.LAKE, gcp_twin.CODE):
                if hook.get_conn().lookup_bucket(bucket) is None:
                    hook.create_bucket(bucket_name=bucket, project_id=gcp_twin.PROJECT)
            from contrail.platforms.gcp import deploy

            deploy.upload(gcp_twin.CODE_URI, gcp_twin.CONN)
            twin.peer, twin.vertex = peer, vertex
            try:
                yield twin
            finally:
                twin.release.set()
            assert peer.errors == [] and vertex.errors == [], "\n".join(peer.errors + vertex.errors)


@pytest.fixture(scope="module")
def gcp_dags(gcp, airflow_db):
    return parsed_dags()


@pytest.fixture(scope="module")
def azure(azurite, spark):
    """The subscription of a test module: the lake and code containers on Azurite (the code uploaded by the deploy
    command), the Livy twin as the HDInsight cluster's gateway, the azure settings in the environment."""
    from azure.storage.blob import BlobServiceClient
    from emulators import AZURITE_ACCOUNT
    from livy_twin import LivyTwin

    service = BlobServiceClient.from_connection_string(azurite)
    for container in (AZURE_LAKE, AZURE_CODE):
        if not service.get_container_client(container).exists():
            service.create_container(container)
    code_uri = f"abfs://{AZURE_CODE}@{AZURITE_ACCOUNT}.dfs.core.windows.net/contrail/test"
    with pytest.MonkeyPatch.context() as patch, LivyTwin() as twin:
        for key, value in {"CONTRAIL_PROFILE": "azure", "CONTRAIL_AZURE_CONN_ID": "azure_test",
                           "AIRFLOW_CONN_AZURE_TEST": json.dumps({"conn_type": "wasb", "extra": {"connection_string": azurite}}),
                           "AIRFLOW_CONN_HDINSIGHT_LIVY": twin.connection(),
                           "CONTRAIL_DATA_ROOT": f"abfs://{AZURE_LAKE}@{AZURITE_ACCOUNT}.dfs.core.windows.net/contrail",
                           "CONTRAIL_AZURE_CODE_URI": code_uri, "CONTRAIL_AZURE_POLL_S": "1"}.items():
            patch.setenv(key, value)
        from contrail.platforms.azure import deploy

        deploy.upload(code_uri, "azure_test")
        twin.code_uri = code_uri
        yield twin
    assert twin.errors == [], "\n".join(twin.errors)


@pytest.fixture(scope="module")
def azure_dags(azure, airflow_db):
    return parsed_dags()
