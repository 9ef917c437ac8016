"""The AWS platform: Spark on EMR (an ephemeral cluster per run, an existing cluster, or EMR Serverless),
training and tuning on SageMaker, the registry mirrored into a SageMaker model package group, the
champion on a SageMaker endpoint, S3 for the lake. Settings: `settings.TABLE`.

Every operator is an official amazon provider operator, built when its task runs (CloudOperator),
so the DAG files parse without boto3. Requests come from the pure builders in emr.py and
sagemaker.py; names and tags from naming.Names (a retry re-attaches to what its first try started).
"""

from __future__ import annotations

from contrail.platforms import slots
from contrail.platforms.aws import settings as aws_settings

NAME = "aws"
PROVIDER = "airflow.providers.amazon.aws"
HERE = "contrail.platforms.aws"
SETTINGS = f"{HERE}.settings:load"
_cloud, _empty = slots.cloud(PROVIDER), slots.empty


def _mode() -> str:
    """The EMR mode picks the operators at parse time; a bad value falls back to the default here and fails
    in the plan, naming the setting."""
    mode = aws_settings.load().get("emr_mode")
    return mode if mode in aws_settings.EMR_MODES else "cluster"


# ---- Spark jobs on EMR -------------------------------------------------------------------------

def _batch_scoring(job: str) -> bool:
    """Scoring by SageMaker batch transform (CONTRAIL_SCORING_ENGINE=batch) instead of the EMR job."""
    return job == "score_features" and aws_settings.load().get("scoring_engine") == "batch"


def plan_spark(job: str, argv: list[str], names) -> dict:
    from contrail.platforms import cost
    from contrail.platforms.aws import account, emr

    s = aws_settings.load()
    s.choice("scoring_engine", aws_settings.SCORING_ENGINES)
    if _batch_scoring(job):
        from contrail.platforms.aws import batch

        return batch.plan(argv, names)
    mode = s.choice("emr_mode", aws_settings.EMR_MODES)
    conn = account.connection(s)
    account.require_bucket(s.need("code_uri"), "CONTRAIL_AWS_CODE_URI", conn)
    account.require_bucket(account.lake_root(), "CONTRAIL_DATA_ROOT", conn)
    ids = {slot: f"{job}.{slot}" for slot in ("start_cluster", "submit_job")}
    cluster_id = "{{ ti.xcom_pull(task_ids='%s') }}" % ids["start_cluster"]
    wait = {"poke_interval": s.number("poll_s", int), "deferrable": True, **conn}
    if mode == "serverless":
        submit = {**emr.serverless_request(job, argv, s, names), **conn}
        start = {"application_id": submit["application_id"], **conn}
        planned = {"start_cluster": start, "submit_job": submit, "stop_cluster": "EMR Serverless applications stop when idle",
                   "await_job": {"application_id": submit["application_id"], **wait,
                                 "job_run_id": "{{ ti.xcom_pull(task_ids='%s') }}" % ids["submit_job"]}}
    else:
        if mode == "existing":
            start = {"cluster_id": s.need("emr_cluster_id"), **conn}
            stop = f"the long-lived cluster {s.need('emr_cluster_id')} (CONTRAIL_EMR_CLUSTER_ID) stays up"
        else:
            account.require_role(s.need("emr_service_role"), "CONTRAIL_EMR_SERVICE_ROLE", conn)
            account.require_role(s.need("emr_instance_profile"), "CONTRAIL_EMR_INSTANCE_PROFILE", conn, instance_profile=True)
            start = {"job_flow_overrides": emr.cluster_request(s, names), "emr_conn_id": None, **conn}
            stop = {"job_flow_id": cluster_id, **conn}
        step = emr.step_request(job, argv, s, names, "CONTINUE" if mode == "cluster" else "CANCEL_AND_WAIT")
        planned = {"start_cluster": start, "stop_cluster": stop, "submit_job": {"job_flow_id": cluster_id, "steps": [step], **conn},
                   "await_job": {"job_flow_id": cluster_id, **wait, "max_attempts": emr.max_attempts(s),
                                 "step_id": "{{ ti.xcom_pull(task_ids='%s')[0] }}" % ids["submit_job"]}}
    planned["cost"] = cost.estimate(emr.cost_lines(s, mode), cost.prices(), cost.spot_discount())
    return planned


def spark_operators(job: str, plan) -> dict:
    from airflow.sdk import task

    if _batch_scoring(job):
        from contrail.platforms.aws import batch

        return batch.operators(plan, _cloud)
    mode = _mode()
    if mode == "cluster":
        start = _cloud("start_cluster", "operators.emr.EmrCreateJobFlowOperator", plan["start_cluster"],
                       attach=f"{HERE}.emr:find_cluster", console=f"{HERE}.emr:console_cluster")
        stop = _cloud("stop_cluster", "operators.emr.EmrTerminateJobFlowOperator", plan["stop_cluster"],
                      console=f"{HERE}.emr:console_cluster")
    elif mode == "existing":
        @task(task_id="start_cluster")
        def check_existing_cluster(request: dict) -> str:
            from contrail.platforms.aws import emr

            return emr.check_cluster(request["cluster_id"], request["aws_conn_id"], request["region_name"])

        start = check_existing_cluster(plan["start_cluster"])
        stop = _empty("stop_cluster", "The existing cluster (CONTRAIL_EMR_CLUSTER_ID) stays up.")
    else:
        @task(task_id="start_cluster")
        def check_application(request: dict) -> str:
            from contrail.platforms.aws.account import client

            state = client(request, "emr-serverless").get_application(applicationId=request["application_id"])
            print(f"EMR Serverless application {request['application_id']}: {state['application']['state']}")
            return request["application_id"]

        start = check_application(plan["start_cluster"])
        stop = _empty("stop_cluster", "EMR Serverless applications stop by themselves when idle.")
    if mode == "serverless":
        submit = _cloud("submit_job", "operators.emr.EmrServerlessStartJobOperator", plan["submit_job"],
                        console=f"{HERE}.emr:console_serverless")
        wait = _cloud("await_job", "sensors.emr.EmrServerlessJobSensor", plan["await_job"], console=f"{HERE}.emr:console_serverless")
    else:
        submit = _cloud("submit_job", "operators.emr.EmrAddStepsOperator", plan["submit_job"],
                        attach=f"{HERE}.emr:find_steps", console=f"{HERE}.emr:console_cluster")
        wait = _cloud("await_job", "sensors.emr.EmrStepSensor", plan["await_job"],
                      explain=f"{HERE}.emr:explain_step", console=f"{HERE}.emr:console_cluster")
    return {"start_cluster": start, "submit_job": submit, "await_job": wait, "stop_cluster": stop}


def collect_scores(collect: dict) -> None:
    """Batch transform's answers into predictions partitions (the EMR job writes its own)."""
    from contrail.platforms.aws import batch

    batch.collect(collect)


# Spark inside a task (the quality engine): a Spark Connect endpoint on the cluster, if one is configured
spark_session = slots.later("contrail.spark.connect:remote_session", NAME)


# ---- training and tuning on SageMaker ----------------------------------------------------------

plan_training = slots.later(f"{HERE}.training:plan")
job_output = slots.later(f"{HERE}.sagemaker:downloaded")


def training_operators(plan) -> dict:
    from contrail.platforms.aws import training

    return training.operators(plan, _cloud)


# ---- the registry mirror and the endpoint ------------------------------------------------------

plan_mirror = slots.later(f"{HERE}.serving:plan_mirror")
plan_serving = slots.later(f"{HERE}.serving:plan_endpoint")
invoke = slots.later(f"{HERE}.serving:invoke")


def mirror_operators(plan) -> dict:
    return {"register_version": _cloud("register_version", "operators.sagemaker.SageMakerRegisterModelVersionOperator",
                                       plan["register_version"], attach=f"{HERE}.sagemaker:find_package",
                                       console=f"{HERE}.sagemaker:console_job", arguments=f"{HERE}.sagemaker:package_arguments")}


def serving_operators(plan) -> dict:
    return {"deploy_endpoint": _cloud("deploy_endpoint", "operators.sagemaker.SageMakerEndpointOperator", plan["deploy_endpoint"],
                                      console=f"{HERE}.sagemaker:console_job"),
            "await_endpoint": _cloud("await_endpoint", "sensors.sagemaker.SageMakerEndpointSensor", plan["await_endpoint"],
                                     console=f"{HERE}.sagemaker:console_job")}


# ---- landing, housekeeping ---------------------------------------------------------------------

def convert_drops_operator():
    s = aws_settings.load()
    if s.get("landing_converter") != "glue":
        return _empty("convert_drops", "Drops are read as they are by `land_drops` (CONTRAIL_LANDING_CONVERTER=glue "
                                       "converts them with a Glue job first).")
    from contrail.drops import landing_url

    request = {"job_name": s.get("glue_job"), "script_args": {"--landing_url": landing_url()},
               "aws_conn_id": s.get("conn_id"), "region_name": s.get("region"), "wait_for_completion": True,
               "deferrable": True, "verbose": False}
    return _cloud("convert_drops", "operators.glue.GlueJobOperator", request)


apply_lake_policy = slots.settings_first(f"{HERE}.housekeeping:apply_lake_policy", SETTINGS)
reap = slots.settings_first(f"{HERE}.housekeeping:reap", SETTINGS)
