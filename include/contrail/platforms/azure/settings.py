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
    Setting("poll_s", "CONTRAIL_AZURE_POLL_S", "60", "seconds between checks of a running batch or job"),
)


def load(environ=None) -> Settings:
    return Settings.from_env(TABLE, environ)
