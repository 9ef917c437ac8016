"""Housekeeping on AWS: lifecycle rules that move old raw data to archive storage, and the reaper that
stops what ended runs left running (clusters, training, tuning and transform jobs, serverless job runs)."""

from __future__ import annotations

from contrail.platforms.naming import has_ended  # noqa: F401  (the reaper's rule, shared by every cloud)
from contrail.platforms.aws import account
from contrail.platforms.settings import Settings

RULE_ID = "contrail-raw-archive"


def lifecycle_rules(prefix: str, archive_days: int, deep_archive_days: int) -> list[dict]:
    """The lake bucket's rule for `<prefix>raw/`: Glacier Instant Retrieval (still readable at once, for a
    backfill), then Deep Archive; old versions of overwritten objects expire after a month."""
    if not 0 < archive_days < deep_archive_days:
        from contrail.config import ConfigError

        raise ConfigError(f"CONTRAIL_RAW_ARCHIVE_DAYS={archive_days} must be above 0 and below "
                          f"CONTRAIL_RAW_DEEP_ARCHIVE_DAYS={deep_archive_days}")
    return [{"ID": RULE_ID, "Status": "Enabled", "Filter": {"Prefix": f"{prefix}raw/"},
             "Transitions": [{"Days": archive_days, "StorageClass": "GLACIER_IR"},
                             {"Days": deep_archive_days, "StorageClass": "DEEP_ARCHIVE"}],
             "NoncurrentVersionExpiration": {"NoncurrentDays": 30}}]


def apply_lake_policy(s: Settings) -> str:
    """Put Contrail's rule on the lake bucket, keeping every other rule the bucket has."""
    from botocore.exceptions import ClientError

    conn = account.connection(s)
    root = account.lake_root()
    bucket, _, prefix = root.split("://", 1)[1].partition("/")
    prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    s3 = account.client(conn, "s3")
    try:
        existing = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchLifecycleConfiguration":
            raise
        existing = []
    rules = [r for r in existing if r.get("ID") != RULE_ID]
    rules += lifecycle_rules(prefix, s.number("raw_archive_days", int), s.number("raw_deep_archive_days", int))
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    return (f"s3://{bucket}/{prefix}raw/: Glacier Instant Retrieval after {s.get('raw_archive_days')} days, Deep Archive "
            f"after {s.get('raw_deep_archive_days')} ({len(rules) - 1} other rule(s) kept)")


# The SageMaker jobs the reaper stops: list call, its summaries key, the job kind (<kind>Name, <kind>Arn), stop call
SAGEMAKER_JOBS = (
    ("list_training_jobs", "TrainingJobSummaries", "TrainingJob", "stop_training_job", "training job"),
    ("list_hyper_parameter_tuning_jobs", "HyperParameterTuningJobSummaries", "HyperParameterTuningJob",
     "stop_hyper_parameter_tuning_job", "tuning job"),
    ("list_transform_jobs", "TransformJobSummaries", "TransformJob", "stop_transform_job", "transform job"),
)


def reap(s: Settings, run_state) -> list[str]:
    conn = account.connection(s)
    emr, sm = account.client(conn, "emr"), account.client(conn, "sagemaker")
    stopped = []
    for page in emr.get_paginator("list_clusters").paginate(ClusterStates=["STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"]):
        for cluster in page["Clusters"]:
            tags = {t["Key"]: t["Value"] for t in emr.describe_cluster(ClusterId=cluster["Id"])["Cluster"].get("Tags", [])}
            if why := has_ended(run_state, tags):
                emr.terminate_job_flows(JobFlowIds=[cluster["Id"]])
                stopped.append(f"EMR cluster {cluster['Id']} ({cluster['Name']}): {why}")
    for lister, summaries, kind, stopper, label in SAGEMAKER_JOBS:
        for job in getattr(sm, lister)(StatusEquals="InProgress", MaxResults=100)[summaries]:
            tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=job[f"{kind}Arn"])["Tags"]}
            if why := has_ended(run_state, tags):
                getattr(sm, stopper)(**{f"{kind}Name": job[f"{kind}Name"]})
                stopped.append(f"SageMaker {label} {job[f'{kind}Name']}: {why}")
    if s.get("emr_application_id"):
        serverless = account.client(conn, "emr-serverless")
        app = s.get("emr_application_id")
        for run in serverless.list_job_runs(applicationId=app, states=["SUBMITTED", "PENDING", "SCHEDULED", "RUNNING"])["jobRuns"]:
            tags = serverless.get_job_run(applicationId=app, jobRunId=run["id"])["jobRun"].get("tags", {})
            if why := has_ended(run_state, tags):
                serverless.cancel_job_run(applicationId=app, jobRunId=run["id"])
                stopped.append(f"EMR Serverless job run {run['id']}: {why}")
    return stopped
