"""The aws profile's DAGs run task by task against the moto server, the twin playing the cluster and the
training container: EMR for features and scoring, SageMaker for training, tuning, the model package
and the endpoint, S3 for the lake."""

from __future__ import annotations

import datetime as dt

import pytest
from aws_twin import CODE, LAKE, TryContext, run_task
from contrail import ingest, storage
from dag_checks import (
    assert_features_published,
    assert_spark_job_failed_and_torn_down,
    states,
)

pytestmark = [pytest.mark.airflow, pytest.mark.spark]
DAYS = ["2013-06-03", "2013-06-04"]
WINDOW = ("2013-08-01", "2013-08-10")  # synthetic feature days the training tests learn from


def clusters(twin) -> list[dict]:
    emr = twin.client("emr")
    return [emr.describe_cluster(ClusterId=c["Id"])["Cluster"] for c in emr.list_clusters()["Clusters"]]


@pytest.fixture(scope="module")
def features_run(aws, aws_dags):
    for day in DAYS:
        ingest.land_many(list(ingest.TABLES), dt.date.fromisoformat(day))
    return aws_dags.get_dag("contrail_features").test(run_conf={"start": DAYS[0], "end": DAYS[-1]})


def test_features_run_on_an_ephemeral_emr_cluster_that_is_torn_down(aws, features_run):
    assert features_run.state == "success", states(features_run)
    assert all(states(features_run)[f"build_features.{slot}"] == "success"
               for slot in ("plan", "start_cluster", "submit_job", "await_job", "stop_cluster"))
    (cluster,) = [c for c in clusters(aws) if "build-features" in c["Name"]]
    assert cluster["Status"]["State"] == "TERMINATED"  # the teardown ran
    tags = {t["Key"]: t["Value"] for t in cluster["Tags"]}
    assert tags["contrail:dag_id"] == "contrail_features" and tags["contrail:run_id"] == features_run.run_id
    groups = {g["Name"]: g for g in aws.client("emr").list_instance_groups(ClusterId=cluster["Id"])["InstanceGroups"]}
    assert (groups["task"]["Market"], groups["task"]["InstanceGroupType"]) == ("SPOT", "TASK")
    assert (groups["core"]["Market"], groups["core"]["RequestedInstanceCount"]) == ("ON_DEMAND", 2)
    (step,) = aws.client("emr").list_steps(ClusterId=cluster["Id"])["Steps"]
    lake = f"s3://{LAKE}/contrail"
    assert step["Config"]["Args"][-11:] == [
        f"s3://{CODE}/contrail/test/spark_jobs/build_features.py", "--raw", f"{lake}/raw", "--validated", f"{lake}/validated",
        "--features", f"{lake}/features", "--counts", f"{lake}/features_counts", "--dates", ",".join(DAYS)]
    assert step["Config"]["Args"][:3] == ["spark-submit", "--deploy-mode", "cluster"]


def test_what_the_emr_job_wrote_is_read_back_from_the_bucket(aws, features_run):
    assert_features_published(features_run, DAYS)


def test_a_failed_step_still_tears_the_cluster_down_fails_the_run_and_shows_the_steps_log(aws, aws_dags, features_run, capfd):
    aws.fail_steps = True
    try:
        run = aws_dags.get_dag("contrail_features").test(run_conf={"days": DAYS[:1]})
    finally:
        aws.fail_steps = False
    out = capfd.readouterr()
    assert_spark_job_failed_and_torn_down(run)
    cluster = next(c for c in clusters(aws) if c["Tags"] and {t["Value"] for t in c["Tags"]} >= {run.run_id})
    assert cluster["Status"]["State"] == "TERMINATED"
    text = out.out + out.err
    assert "the executors lost their shuffle files" in text  # the tail of the step's stderr in the cluster's LogUri
    assert f"clusterDetails/{cluster['Id']}" in text  # and its console page


def test_a_missing_connection_fails_the_first_task_naming_the_setting_and_starts_no_cluster(aws, aws_dags, features_run, capfd,
                                                                                            monkeypatch):
    before = len(clusters(aws))
    monkeypatch.setenv("CONTRAIL_AWS_CONN_ID", "nowhere")
    run = aws_dags.get_dag("contrail_features").test(run_conf={"days": DAYS[:1]})
    text = "".join(capfd.readouterr())
    assert run.state == "failed" and states(run)["check_raw"] == "failed"  # the first task to open the lake
    assert "the Airflow connection 'nowhere' (CONTRAIL_AWS_CONN_ID) of the lake does not exist" in text
    assert len(clusters(aws)) == before


@pytest.mark.parametrize("setting, value, message", [
    ("CONTRAIL_AWS_CODE_URI", "s3://no-such-code/contrail", "CONTRAIL_AWS_CODE_URI names bucket 'no-such-code'"),
    ("CONTRAIL_EMR_SERVICE_ROLE", "NoSuchRole", "CONTRAIL_EMR_SERVICE_ROLE='NoSuchRole': no such IAM role"),
    ("CONTRAIL_EMR_MODE", "fleet", "CONTRAIL_EMR_MODE='fleet': choose one of cluster, existing, serverless"),
])
def test_a_missing_bucket_or_role_fails_the_plan_before_anything_starts(aws, monkeypatch, setting, value, message):
    from contrail.config import ConfigError
    from contrail.platforms import aws as platform
    from contrail.platforms.naming import Names

    before = len(clusters(aws))
    monkeypatch.setenv(setting, value)
    with pytest.raises(ConfigError, match=message):
        platform.plan_spark("build_features", ["--dates", DAYS[0]], Names("d", "build_features", "r", (DAYS[0],)))
    assert len(clusters(aws)) == before


def test_the_budget_refuses_the_cluster_before_it_starts(aws, aws_dags, features_run, capfd, monkeypatch):
    before = len(clusters(aws))
    monkeypatch.setenv("CONTRAIL_BUDGET_USD", "0.05")
    run = aws_dags.get_dag("contrail_features").test(run_conf={"days": DAYS[:1]})
    text = "".join(capfd.readouterr())
    assert run.state == "failed" and states(run)["build_features.plan"] == "failed"
    assert "exceeds the budget $0.05 (CONTRAIL_BUDGET_USD); nothing was started" in text
    assert len(clusters(aws)) == before


def test_a_retried_create_or_submit_reattaches_instead_of_starting_a_second_cluster_or_step(aws, aws_dags):
    from contrail.platforms import aws as platform
    from contrail.platforms.naming import Names

    names = Names("contrail_features", "build_features", "retry-test", (DAYS[0],))
    plan = platform.plan_spark("build_features", ["--dates", DAYS[0]], names)
    dag = aws_dags.get_dag("contrail_features")
    create, submit = dag.get_task("build_features.start_cluster"), dag.get_task("build_features.submit_job")
    first = run_task(create, plan["start_cluster"], TryContext())
    again = run_task(create, plan["start_cluster"], TryContext())
    assert first == again and [c["Id"] for c in clusters(aws) if c["Name"] == plan["start_cluster"]["job_flow_overrides"]["Name"]] == [first]
    request = {**plan["submit_job"], "job_flow_id": first}
    aws.held.add(first)  # the step stays running, as the first try left it
    steps = run_task(submit, request, TryContext())
    assert run_task(submit, request, TryContext()) == steps
    assert len(aws.client("emr").list_steps(ClusterId=first)["Steps"]) == 1
    aws.client("emr").terminate_job_flows(JobFlowIds=[first])


def test_the_console_link_of_a_step_task_is_its_clusters_page(aws, features_run):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        stored = session.scalars(select(XComModel).where(
            XComModel.run_id == features_run.run_id, XComModel.task_id == "build_features.await_job",
            XComModel.key == "_link_CloudConsoleLink")).one()
        url = XComModel.deserialize_value(stored)
    (cluster,) = [c for c in clusters(aws) if {t["Value"] for t in c["Tags"]} >= {features_run.run_id}]
    assert url == f"https://us-east-1.console.aws.amazon.com/emr/home?region=us-east-1#/clusterDetails/{cluster['Id']}"


@pytest.mark.parametrize("mode", ["existing", "serverless"])
def test_the_same_step_runs_on_a_long_lived_cluster_or_on_emr_serverless(aws, features_run, monkeypatch, mode):
    import os

    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("CONTRAIL_EMR_MODE", mode)
    if mode == "existing":
        target = aws.client("emr").run_job_flow(
            Name="the-teams-cluster", ReleaseLabel="emr-7.5.0", JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole",
            Instances={"InstanceGroups": [{"Name": "primary", "InstanceRole": "MASTER", "InstanceType": "m5.xlarge",
                                           "InstanceCount": 1}], "KeepJobFlowAliveWhenNoSteps": True})["JobFlowId"]
        monkeypatch.setenv("CONTRAIL_EMR_CLUSTER_ID", target)
    else:
        target = aws.client("emr-serverless").create_application(name="contrail", releaseLabel="emr-7.5.0", type="SPARK")["applicationId"]
        monkeypatch.setenv("CONTRAIL_EMR_APPLICATION_ID", target)
        monkeypatch.setenv("CONTRAIL_EMR_JOB_ROLE", "arn:aws:iam::123456789012:role/contrail-emr-serverless-job")
    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag("contrail_features")  # the mode picks operators
    for task in dag.tasks:
        task.retries = 0
    before = storage.partition_mtimes(storage.location("features_counts"))[DAYS[1]]
    run = dag.test(run_conf={"days": DAYS[1:]})
    assert run.state == "success", states(run)
    assert storage.partition_mtimes(storage.location("features_counts"))[DAYS[1]] > before  # rebuilt, read back from S3
    if mode == "existing":
        assert dag.get_task("build_features.submit_job").operator_name == "EmrAddStepsOperator"
        (step,) = aws.client("emr").list_steps(ClusterId=target)["Steps"]
        assert step["Config"]["Args"][-1] == DAYS[1] and step["ActionOnFailure"] == "CANCEL_AND_WAIT"
        assert aws.client("emr").describe_cluster(ClusterId=target)["Cluster"]["Status"]["State"] != "TERMINATED"  # not ours to stop
        aws.client("emr").terminate_job_flows(JobFlowIds=[target])
    else:
        assert dag.get_task("build_features.submit_job").operator_name == "EmrServerlessStartJobOperator"
        (listed,) = aws.client("emr-serverless").list_job_runs(applicationId=target)["jobRuns"]
        job = aws.client("emr-serverless").get_job_run(applicationId=target, jobRunId=listed["id"])["jobRun"]
        assert job["jobDriver"]["sparkSubmit"]["entryPoint"] == f"s3://{CODE}/contrail/test/spark_jobs/build_features.py"
        assert "spark.archives=" in job["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"]
        assert job["tags"]["contrail:run_id"] == run.run_id
