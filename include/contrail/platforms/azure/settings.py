"""The azure profile's settings: one table, read when a step plans (never at DAG parse time)."""

from __future__ import annotations

from contrail.platforms.settings import Setting, Settings

TABLE = (
    Setting("conn_id", "CONTRAIL_AZURE_CONN_ID", "wasb_default",
            "the Airflow connection (or Key Vault secret) of the lake's storage account (wasb: a service principal or a "
            "managed identity; a connection string only for Azurite)"),
    Setting("livy_conn_id", "CONTRAIL_HDINSIGHT_LIVY_CONN_ID", "hdinsight_livy",
            "the Airflow connection of the HDInsight cluster's Livy endpoint: host https://CLUSTER.azurehdinsight.net/livy, "
            "login and password the cluster login (the gateway's basic auth)"),
    Setting("code_uri", "CONTRAIL_AZURE_CODE_URI", None,
            "the abfs:// prefix `python -m contrail.platforms.azure.deploy` uploaded the code to, "
            "e.g. abfs://code@ACCOUNT.dfs.core.windows.net/contrail-code/v1 (the cluster's storage must reach it)"),
    Setting("hdinsight_python", "CONTRAIL_HDINSIGHT_PYTHON", "/usr/bin/anaconda/envs/contrail/bin/python",
            "the Python the cluster's driver and executors run: the conda environment the script action "
            "(deploy/azure/hdinsight-python.sh) creates on every node"),
    Setting("hdinsight_queue", "CONTRAIL_HDINSIGHT_QUEUE", "default", "the YARN queue the batches run in"),
    Setting("driver_memory", "CONTRAIL_HDINSIGHT_DRIVER_MEMORY", "4g", "a batch's driver memory"),
    Setting("executor_memory", "CONTRAIL_HDINSIGHT_EXECUTOR_MEMORY", "8g", "a batch's executor memory"),
    Setting("executors", "CONTRAIL_HDINSIGHT_EXECUTORS", "4", "a batch's executors"),
    Setting("hdinsight_head_type", "CONTRAIL_HDINSIGHT_HEAD_TYPE", "Standard_E4_v3", "the head nodes' VM size (cost estimate)"),
    Setting("hdinsight_worker_type", "CONTRAIL_HDINSIGHT_WORKER_TYPE", "Standard_E8_v3", "the worker nodes' VM size (cost estimate)"),
    Setting("hdinsight_workers", "CONTRAIL_HDINSIGHT_WORKERS", "3", "the cluster's worker nodes (cost estimate)"),
    Setting("hdinsight_expected_hours", "CONTRAIL_HDINSIGHT_EXPECTED_HOURS", "0.25",
            "hours of the cluster a batch is expected to take (cost estimate: the long-lived cluster's share)"),
    Setting("raw_archive_days", "CONTRAIL_RAW_ARCHIVE_DAYS", "90", "raw/ blobs move to the cool tier after this many days"),
    Setting("raw_deep_archive_days", "CONTRAIL_RAW_DEEP_ARCHIVE_DAYS", "365", "and to the archive tier after this many"),
    Setting("storage_resource_group", "CONTRAIL_AZURE_STORAGE_RESOURCE_GROUP", None,
            "the resource group of the lake's storage account (default: the Azure ML workspace's)"),
    Setting("poll_s", "CONTRAIL_AZURE_POLL_S", "60", "seconds between checks of a running batch or job"),
    Setting("azureml_conn_id", "CONTRAIL_AZUREML_CONN_ID", "azure_ml_default",
            "the Airflow connection of the Azure ML workspace (extras subscription_id, resource_group, workspace_name; "
            "login/password a service principal, else the managed identity)"),
    Setting("azureml_compute", "CONTRAIL_AZUREML_COMPUTE", None, "the Azure ML compute cluster training and tuning jobs run on"),
    Setting("azureml_datastore", "CONTRAIL_AZUREML_DATASTORE", None,
            "the workspace datastore registered on the lake's container (jobs mount the lake through it)"),
    Setting("training_image", "CONTRAIL_AZUREML_TRAINING_IMAGE", None,
            "the training image (Dockerfile.training) pushed to the workspace's ACR, e.g. ACR.azurecr.io/contrail-training:v1"),
    Setting("training_instance_type", "CONTRAIL_AZUREML_INSTANCE_TYPE", "Standard_DS3_v2",
            "the compute cluster's VM size (cost estimate)"),
    Setting("training_spot", "CONTRAIL_AZUREML_SPOT", "true", "spot capacity for training and tuning (queue_settings job_tier spot)"),
    Setting("training_max_run_s", "CONTRAIL_AZUREML_MAX_RUN_S", "3600", "a training job's longest run (limits.timeout)"),
    Setting("training_expected_hours", "CONTRAIL_AZUREML_EXPECTED_HOURS", "0.25",
            "hours a training job is expected to take (cost estimate)"),
    Setting("tuning_parallel", "CONTRAIL_AZUREML_TUNING_PARALLEL", "2", "trials a sweep job runs at once"),
)


def load(environ=None) -> Settings:
    return Settings.from_env(TABLE, environ)
