"""The AWS profile's settings: one table, read when a step plans (never at DAG parse time)."""

from __future__ import annotations

from contrail.platforms.settings import Setting, Settings

EMR_MODES = ("cluster", "existing", "serverless")
SCORING_ENGINES = ("spark", "batch")
CONVERTERS = ("none", "glue")

TABLE = (
    Setting("conn_id", "CONTRAIL_AWS_CONN_ID", "aws_default",
            "the Airflow connection (or Secrets Manager secret) holding the AWS credentials and region"),
    Setting("region", "CONTRAIL_AWS_REGION", None, "the AWS region (default: the connection's region_name)"),
    Setting("code_uri", "CONTRAIL_AWS_CODE_URI", None,
            "the S3 prefix `python -m contrail.platforms.aws.deploy` uploaded the code to, e.g. s3://my-bucket/contrail-code/v1"),
    Setting("emr_mode", "CONTRAIL_EMR_MODE", "cluster",
            "cluster (an ephemeral EMR cluster per run), existing (CONTRAIL_EMR_CLUSTER_ID) or serverless "
            "(CONTRAIL_EMR_APPLICATION_ID)"),
    Setting("emr_cluster_id", "CONTRAIL_EMR_CLUSTER_ID", None, "the long-lived EMR cluster the existing mode submits steps to (j-...)"),
    Setting("emr_application_id", "CONTRAIL_EMR_APPLICATION_ID", None, "the EMR Serverless application of the serverless mode"),
    Setting("emr_job_role", "CONTRAIL_EMR_JOB_ROLE", None, "the EMR Serverless job execution role ARN (serverless mode)"),
    Setting("emr_release", "CONTRAIL_EMR_RELEASE", "emr-7.5.0", "the EMR release of the ephemeral clusters"),
    Setting("emr_service_role", "CONTRAIL_EMR_SERVICE_ROLE", "EMR_DefaultRole", "the EMR service role (deploy/aws/iam/emr-service-role.json)"),
    Setting("emr_instance_profile", "CONTRAIL_EMR_INSTANCE_PROFILE", "EMR_EC2_DefaultRole",
            "the EC2 instance profile of the cluster's nodes (deploy/aws/iam/emr-instance-profile.json)"),
    Setting("emr_log_uri", "CONTRAIL_EMR_LOG_URI", None, "where EMR writes cluster and step logs (default: <code uri>/emr-logs/)"),
    Setting("emr_subnet_id", "CONTRAIL_EMR_SUBNET_ID", None, "the VPC subnet of the clusters (default: the account's default VPC)"),
    Setting("emr_primary_type", "CONTRAIL_EMR_PRIMARY_TYPE", "m5.xlarge", "the primary node's instance type"),
    Setting("emr_core_type", "CONTRAIL_EMR_CORE_TYPE", "m5.xlarge", "the core nodes' instance type (on demand: they hold HDFS)"),
    Setting("emr_core_count", "CONTRAIL_EMR_CORE_COUNT", "2", "how many core nodes"),
    Setting("emr_task_type", "CONTRAIL_EMR_TASK_TYPE", "m5.xlarge", "the task nodes' instance type"),
    Setting("emr_task_count", "CONTRAIL_EMR_TASK_COUNT", "2", "how many task nodes to start with"),
    Setting("emr_task_spot", "CONTRAIL_EMR_TASK_SPOT", "true", "task nodes on spot capacity"),
    Setting("emr_max_capacity", "CONTRAIL_EMR_MAX_CAPACITY", "10", "managed scaling's most instances"),
    Setting("emr_idle_timeout_s", "CONTRAIL_EMR_IDLE_TIMEOUT_S", "1800",
            "auto-termination after this many idle seconds (a safety net behind the teardown task)"),
    Setting("emr_expected_hours", "CONTRAIL_EMR_EXPECTED_HOURS", "0.5", "hours a cluster is expected to live (cost estimate)"),
    Setting("serverless_workers", "CONTRAIL_EMR_SERVERLESS_WORKERS", "4", "workers of a serverless job (cost estimate)"),
    Setting("serverless_vcpu", "CONTRAIL_EMR_SERVERLESS_VCPU", "4", "vCPUs per serverless worker"),
    Setting("serverless_memory_gb", "CONTRAIL_EMR_SERVERLESS_MEMORY_GB", "16", "GB of memory per serverless worker"),
    Setting("sagemaker_role", "CONTRAIL_SAGEMAKER_ROLE", None,
            "the SageMaker execution role ARN (deploy/aws/iam/sagemaker-execution-role.json)"),
    Setting("training_image", "CONTRAIL_SAGEMAKER_TRAINING_IMAGE", None,
            "the training image URI (Dockerfile, target `training`, pushed to ECR)"),
    Setting("serving_image", "CONTRAIL_SAGEMAKER_SERVING_IMAGE", None,
            "the MLflow pyfunc serving image URI (`mlflow sagemaker build-and-push-container`)"),
    Setting("training_instance_type", "CONTRAIL_SAGEMAKER_INSTANCE_TYPE", "ml.m5.xlarge", "the training instance type"),
    Setting("training_spot", "CONTRAIL_SAGEMAKER_SPOT", "true", "managed spot training (with checkpoints in the lake)"),
    Setting("training_max_run_s", "CONTRAIL_SAGEMAKER_MAX_RUN_S", "3600", "a training job's longest run"),
    Setting("training_max_wait_s", "CONTRAIL_SAGEMAKER_MAX_WAIT_S", "7200", "spot: the longest wait for capacity plus the run"),
    Setting("training_expected_hours", "CONTRAIL_SAGEMAKER_EXPECTED_HOURS", "0.25", "hours a training job is expected to take (cost estimate)"),
    Setting("tuning_parallel", "CONTRAIL_SAGEMAKER_TUNING_PARALLEL", "2", "training jobs a tuning job runs at once"),
    Setting("package_group", "CONTRAIL_SAGEMAKER_PACKAGE_GROUP", None, "the model package group (default: the model's name)"),
    Setting("endpoint_instance_type", "CONTRAIL_SAGEMAKER_ENDPOINT_TYPE", "ml.m5.large", "the endpoint's instance type"),
    Setting("endpoint_instance_count", "CONTRAIL_SAGEMAKER_ENDPOINT_COUNT", "1", "the endpoint's instances"),
    Setting("scoring_engine", "CONTRAIL_SCORING_ENGINE", "spark",
            "spark (the score job on EMR) or batch (SageMaker batch transform of one model version a run)"),
    Setting("transform_instance_type", "CONTRAIL_SAGEMAKER_TRANSFORM_TYPE", "ml.m5.xlarge", "batch transform's instance type"),
    Setting("transform_instance_count", "CONTRAIL_SAGEMAKER_TRANSFORM_COUNT", "1", "batch transform's instances"),
    Setting("landing_converter", "CONTRAIL_LANDING_CONVERTER", "none", "none, or glue: a Glue job turns CSV drops into Parquet"),
    Setting("glue_job", "CONTRAIL_GLUE_JOB", "contrail-convert-drops", "the Glue job the deploy command created"),
    Setting("raw_archive_days", "CONTRAIL_RAW_ARCHIVE_DAYS", "90", "raw/ objects move to Glacier Instant Retrieval after this many days"),
    Setting("raw_deep_archive_days", "CONTRAIL_RAW_DEEP_ARCHIVE_DAYS", "365", "and to Glacier Deep Archive after this many"),
    Setting("poll_s", "CONTRAIL_AWS_POLL_S", "60", "seconds between checks of a running step or job"),
)


def load(environ=None) -> Settings:
    return Settings.from_env(TABLE, environ)
