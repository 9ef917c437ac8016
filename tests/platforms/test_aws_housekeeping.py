"""Housekeeping on the aws profile: lifecycle rules on the lake's bucket, and the reaper that stops what
ended runs left running. Against the moto server; where moto answers HTTP 500 (stopping a training
job), the exact request is asserted at the client boundary with botocore's Stubber."""

from __future__ import annotations

import pytest
from aws_twin import LAKE

from contrail.platforms.aws import housekeeping, settings

pytestmark = pytest.mark.airflow


def cluster(twin, name: str, tags: dict[str, str]) -> str:
    return twin.client("emr").run_job_flow(
        Name=name, ReleaseLabel="emr-7.5.0", JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole",
        Instances={"InstanceGroups": [{"Name": "primary", "InstanceRole": "MASTER", "InstanceType": "m5.xlarge", "InstanceCount": 1}],
                   "KeepJobFlowAliveWhenNoSteps": True},
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()])["JobFlowId"]


def state(twin, cluster_id: str) -> str:
    return twin.client("emr").describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]["State"]


@pytest.mark.parametrize("tags, run_state, orphan", [
    ({}, "success", None),  # not Contrail's: never touched
    ({"contrail:dag_id": "d", "contrail:run_id": "r"}, "running", None),
    ({"contrail:dag_id": "d", "contrail:run_id": "r"}, "queued", None),
    ({"contrail:dag_id": "d", "contrail:run_id": "r"}, "success", "its run d/r is success"),
    ({"contrail:dag_id": "d", "contrail:run_id": "r"}, "failed", "its run d/r is failed"),
    ({"contrail:dag_id": "d", "contrail:run_id": "r"}, LookupError("DagRun not found"), "its run d/r no longer exists"),
])
def test_what_makes_a_resource_an_orphan(tags, run_state, orphan):
    def lookup(dag_id, run_id):
        if isinstance(run_state, Exception):
            raise run_state
        return run_state

    assert housekeeping.has_ended(lookup, tags) == orphan


def test_an_unknown_error_asking_for_the_run_stops_nothing():
    def lookup(dag_id, run_id):
        raise ConnectionError("api-server unreachable")

    with pytest.raises(ConnectionError):
        housekeeping.has_ended(lookup, {"contrail:dag_id": "d", "contrail:run_id": "r"})


def test_the_housekeeping_dag_archives_old_raw_data_and_stops_only_orphans(aws, aws_dags):
    ended = aws_dags.get_dag("contrail_ingest").test(logical_date=__import__("datetime").datetime(
        2013, 6, 10, tzinfo=__import__("datetime").timezone.utc))
    assert ended.state == "success"
    orphan = cluster(aws, "orphan", {"contrail:dag_id": "contrail_ingest", "contrail:run_id": ended.run_id})
    gone = cluster(aws, "gone", {"contrail:dag_id": "contrail_features", "contrail:run_id": "manual__never-ran"})
    mine = cluster(aws, "someone-elses", {"team": "analytics"})
    s3 = aws.client("s3")
    s3.put_bucket_lifecycle_configuration(Bucket=LAKE, LifecycleConfiguration={"Rules": [
        {"ID": "keep-me", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 7}}]})
    run = aws_dags.get_dag("contrail_housekeeping").test()
    assert run.state == "success"
    assert (state(aws, orphan), state(aws, gone), state(aws, mine)) == ("TERMINATED", "TERMINATED", "WAITING")
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=LAKE)["Rules"]}
    assert set(rules) == {"keep-me", "contrail-raw-archive"}
    assert rules["contrail-raw-archive"]["Filter"] == {"Prefix": "contrail/raw/"}
    assert [t["StorageClass"] for t in rules["contrail-raw-archive"]["Transitions"]] == ["GLACIER_IR", "DEEP_ARCHIVE"]
    aws.client("emr").terminate_job_flows(JobFlowIds=[mine])


def test_an_orphaned_training_job_is_stopped_with_exactly_this_request(aws, monkeypatch):
    """moto answers StopTrainingJob with HTTP 500: the request is asserted at the client boundary."""
    from botocore.stub import Stubber

    from contrail.platforms.aws import account

    real = account.client
    stubs = {}

    def client(conn, service):
        made = real(conn, service)
        if service == "sagemaker":
            stub = Stubber(made)
            arn = "arn:aws:sagemaker:us-east-1:123456789012:training-job/contrail-train-x"
            stub.add_response("list_training_jobs", {"TrainingJobSummaries": [{
                "TrainingJobName": "contrail-train-x", "TrainingJobArn": arn, "CreationTime": "2026-12-01T00:00:00Z",
                "TrainingJobStatus": "InProgress"}]}, {"StatusEquals": "InProgress", "MaxResults": 100})
            stub.add_response("list_tags", {"Tags": [{"Key": "contrail:dag_id", "Value": "contrail_training"},
                                                     {"Key": "contrail:run_id", "Value": "manual__1"}]}, {"ResourceArn": arn})
            stub.add_response("stop_training_job", {}, {"TrainingJobName": "contrail-train-x"})
            stub.add_response("list_hyper_parameter_tuning_jobs", {"HyperParameterTuningJobSummaries": []},
                              {"StatusEquals": "InProgress", "MaxResults": 100})
            stub.add_response("list_transform_jobs", {"TransformJobSummaries": []}, {"StatusEquals": "InProgress", "MaxResults": 100})
            stub.activate()
            stubs[service] = stub
        return made

    monkeypatch.setattr(account, "client", client)
    stopped = housekeeping.reap(settings.load(), lambda dag_id, run_id: "failed")
    assert "SageMaker training job contrail-train-x: its run contrail_training/manual__1 is failed" in stopped
    stubs["sagemaker"].assert_no_pending_responses()
