"""Spark on EMR: the requests of an ephemeral cluster, its steps and EMR Serverless job runs (pure),
and the run-time helpers the operators are given: re-attach, explain a failure, the console page.

The cluster's Python environment comes from a bootstrap action (`bootstrap/emr-python.sh`, uploaded
by `python -m contrail.platforms.aws.deploy`): it installs Python 3.11 and the pinned
`requirements-cluster.txt` (mlflow, scikit-learn, LightGBM, pandas, pyarrow) on every node, so that
`mlflow.pyfunc.spark_udf` loads the model on the executors as it does locally. EMR Serverless has
no bootstrap actions: its jobs get the same environment as a packed archive (`spark.archives`).
"""

from __future__ import annotations

import gzip
import math

from contrail.platforms import cost
from contrail.platforms.aws.account import client
from contrail.platforms.naming import Names
from contrail.platforms.settings import Settings
from contrail.spark.conf import submit_args

ACTIVE = ["STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"]
LIVE_STEPS = ["PENDING", "RUNNING", "COMPLETED"]
PYTHON = "/usr/bin/python3.11"  # installed by the bootstrap action
SERVERLESS_PYTHON = "./environment/bin/python"  # inside the packed archive


def aws_tags(names: Names) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in names.tags().items()]


def log_uri(s: Settings) -> str:
    return s.get("emr_log_uri") or f"{s.need('code_uri').rstrip('/')}/emr-logs/"


def cluster_request(s: Settings, names: Names) -> dict:
    """run_job_flow's request of the run's ephemeral cluster: on-demand primary and core nodes, spot task
    nodes, managed scaling of the task nodes, idle auto-termination, the Python bootstrap, Contrail's tags."""
    code = s.need("code_uri").rstrip("/")
    core, task = s.number("emr_core_count", int), s.number("emr_task_count", int)
    groups = [
        {"Name": "primary", "Market": "ON_DEMAND", "InstanceRole": "MASTER", "InstanceType": s.need("emr_primary_type"), "InstanceCount": 1},
        {"Name": "core", "Market": "ON_DEMAND", "InstanceRole": "CORE", "InstanceType": s.need("emr_core_type"), "InstanceCount": core},
    ]
    if task:
        groups.append({"Name": "task", "Market": "SPOT" if s.flag("emr_task_spot") else "ON_DEMAND", "InstanceRole": "TASK",
                       "InstanceType": s.need("emr_task_type"), "InstanceCount": task})
    instances = {"InstanceGroups": groups, "KeepJobFlowAliveWhenNoSteps": True, "TerminationProtected": False}
    if s.get("emr_subnet_id"):
        instances["Ec2SubnetId"] = s.get("emr_subnet_id")
    return {
        "Name": names.resource("cluster", max_len=256),
        "ReleaseLabel": s.need("emr_release"),
        "LogUri": log_uri(s),
        "Applications": [{"Name": "Spark"}],
        "Instances": instances,
        "BootstrapActions": [{"Name": "python-environment",
                              "ScriptBootstrapAction": {"Path": f"{code}/bootstrap/emr-python.sh", "Args": [code]}}],
        "Configurations": [
            {"Classification": "spark-env", "Configurations": [
                {"Classification": "export", "Properties": {"PYSPARK_PYTHON": PYTHON, "OMP_WAIT_POLICY": "PASSIVE"}}]},
        ],
        "ManagedScalingPolicy": {"ComputeLimits": {
            "UnitType": "Instances", "MinimumCapacityUnits": 1 + core, "MaximumCapacityUnits": s.number("emr_max_capacity", int),
            "MaximumOnDemandCapacityUnits": 1 + core, "MaximumCoreCapacityUnits": core}},
        "AutoTerminationPolicy": {"IdleTimeout": s.number("emr_idle_timeout_s", int)},
        "JobFlowRole": s.need("emr_instance_profile"),
        "ServiceRole": s.need("emr_service_role"),
        "VisibleToAllUsers": True,
        "Tags": aws_tags(names),
    }


def step_request(job: str, argv: list[str], s: Settings, names: Names, on_failure: str = "CONTINUE") -> dict:
    """One EMR step: spark-submit of spark_jobs/<job>.py (cluster deploy mode) with the job's arguments."""
    code = s.need("code_uri").rstrip("/")
    return {"Name": names.resource("step", max_len=256), "ActionOnFailure": on_failure,
            "HadoopJarStep": {"Jar": "command-runner.jar",
                              "Args": ["spark-submit", "--deploy-mode", "cluster", *submit_args(),
                                       f"{code}/spark_jobs/{job}.py", *argv]}}


def serverless_request(job: str, argv: list[str], s: Settings, names: Names) -> dict:
    """EmrServerlessStartJobOperator's arguments; the idempotency token is the run's name, so a retried start
    returns the job run its first try started."""
    code = s.need("code_uri").rstrip("/")
    env = {"spark.archives": f"{code}/pyspark_env.tar.gz#environment",
           "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON": SERVERLESS_PYTHON,
           "spark.emr-serverless.driverEnv.PYSPARK_PYTHON": SERVERLESS_PYTHON,
           "spark.executorEnv.PYSPARK_PYTHON": SERVERLESS_PYTHON}
    return {
        "application_id": s.need("emr_application_id"), "execution_role_arn": s.need("emr_job_role"),
        "name": names.resource("job", max_len=256), "client_request_token": names.resource("job", max_len=64),
        "job_driver": {"sparkSubmit": {"entryPoint": f"{code}/spark_jobs/{job}.py", "entryPointArguments": argv,
                                       "sparkSubmitParameters": " ".join(submit_args(env))}},
        "configuration_overrides": {"monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": log_uri(s)}}},
        "config": {"tags": names.tags()}, "wait_for_completion": False,
    }


def cost_lines(s: Settings, mode: str) -> list[cost.Line]:
    hours = s.number("emr_expected_hours")
    if mode == "serverless":
        workers = s.number("serverless_workers")
        return [cost.Line("serverless vCPU", "vcpu", workers * s.number("serverless_vcpu"), hours, base="emr-serverless"),
                cost.Line("serverless memory", "gb", workers * s.number("serverless_memory_gb"), hours, base="emr-serverless")]
    if mode == "existing":
        return []  # the long-lived cluster is paid for whether or not this run uses it
    lines = [cost.Line("primary", s.need("emr_primary_type"), 1, hours, uplift="emr"),
             cost.Line("core", s.need("emr_core_type"), s.number("emr_core_count", int), hours, uplift="emr")]
    if s.number("emr_task_count", int):
        lines.append(cost.Line("task", s.need("emr_task_type"), s.number("emr_task_count", int), hours,
                               spot=s.flag("emr_task_spot"), uplift="emr"))
    return lines


def max_attempts(s: Settings) -> int:
    """Sensor polls before giving up: four times the expected hours, at least an hour's worth."""
    poll = s.number("poll_s", int)
    return max(60, math.ceil(4 * s.number("emr_expected_hours") * 3600 / poll))


# ---- run time: what the operators are given (boto3 through the provider's hooks) -----------------

def find_cluster(request: dict, context) -> str | None:
    """A live cluster of the same name: what an earlier try of this task created."""
    name = request["job_flow_overrides"]["Name"]
    pages = client(request, "emr").get_paginator("list_clusters").paginate(ClusterStates=ACTIVE)
    found = [c["Id"] for page in pages for c in page["Clusters"] if c["Name"] == name]
    return found[0] if found else None


def find_steps(request: dict, context) -> list[str] | None:
    """The steps of the same names an earlier try added to the cluster (pending, running or completed)."""
    wanted = [step["Name"] for step in request["steps"]]
    pages = client(request, "emr").get_paginator("list_steps").paginate(ClusterId=request["job_flow_id"], StepStates=LIVE_STEPS)
    by_name = {s["Name"]: s["Id"] for page in pages for s in page["Steps"]}
    return [by_name[n] for n in wanted] if all(n in by_name for n in wanted) else None


def check_cluster(cluster_id: str, conn_id: str, region: str) -> str:
    """The existing mode's cluster must be up and accepting steps."""
    from contrail.config import ConfigError

    state = client({"aws_conn_id": conn_id, "region_name": region}, "emr").describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]["State"]
    if state not in ("WAITING", "RUNNING"):
        raise ConfigError(f"EMR cluster {cluster_id} (CONTRAIL_EMR_CLUSTER_ID) is {state}: it must be WAITING or RUNNING")
    return cluster_id


def step_log_tail(request: dict, lines: int = 40) -> str:
    """The last lines of a step's stderr in the cluster's LogUri (EMR writes it a few minutes after the step)."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    cluster = client(request, "emr").describe_cluster(ClusterId=request["job_flow_id"])["Cluster"]
    uri = (cluster.get("LogUri") or "").replace("s3n://", "s3://").rstrip("/")
    if not uri.startswith("s3://"):
        return "(the cluster has no S3 LogUri)"
    bucket, _, prefix = uri[5:].partition("/")
    key = f"{prefix}/{request['job_flow_id']}/steps/{request['step_id']}/stderr.gz".lstrip("/")
    hook = S3Hook(aws_conn_id=request.get("aws_conn_id"))
    if not hook.check_for_key(key, bucket):
        return f"(no step log yet at s3://{bucket}/{key})"
    body = hook.get_conn().get_object(Bucket=bucket, Key=key)["Body"].read()
    text = gzip.decompress(body).decode(errors="replace")
    return f"the last lines of s3://{bucket}/{key}:\n" + "\n".join(text.splitlines()[-lines:])


def explain_step(request: dict, context, error: Exception) -> tuple[str, bool]:
    """Why a step failed: its state, failure details, log tail and console page. A failed step stays failed."""
    step = client(request, "emr").describe_step(ClusterId=request["job_flow_id"], StepId=request["step_id"])["Step"]
    status = step["Status"]
    details = status.get("FailureDetails") or {}
    text = (f"EMR step {step['Name']} ({request['step_id']}) on cluster {request['job_flow_id']} is {status['State']}"
            + (f": {details.get('Reason', '')} {details.get('Message', '')}".rstrip() if details else "")
            + f"\n{step_log_tail(request)}\nconsole: {console_cluster(request, None)}")
    return text, status["State"] in ("FAILED", "CANCELLED", "INTERRUPTED")


def console_cluster(request: dict, result) -> str | None:
    cluster = request.get("job_flow_id") or (result if isinstance(result, str) else None)
    if not cluster or "{{" in cluster:
        return None
    region = request.get("region_name") or "us-east-1"
    return f"https://{region}.console.aws.amazon.com/emr/home?region={region}#/clusterDetails/{cluster}"


def console_serverless(request: dict, result) -> str | None:
    region = request.get("region_name") or "us-east-1"
    return (f"https://{region}.console.aws.amazon.com/emr/home?region={region}"
            f"#/serverless-applications/{request['application_id']}")
