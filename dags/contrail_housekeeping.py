"""Contrail housekeeping: storage tiers for old raw data, and what ended runs left running in the cloud."""

from __future__ import annotations

from airflow.sdk import dag

from contrail import platforms
from contrail.dag_defaults import dag_kwargs


@dag(
    dag_id="contrail_housekeeping",
    schedule="@hourly",
    **dag_kwargs("housekeeping", "cost"),
)
def contrail_housekeeping():
    """
    ### Keep the platform tidy
    * **apply_lake_policy**: lifecycle rules on the lake's bucket moving `raw/` older than
      `CONTRAIL_RAW_ARCHIVE_DAYS` to an archive storage class (AWS: S3 Glacier Instant Retrieval,
      then Deep Archive after `CONTRAIL_RAW_DEEP_ARCHIVE_DAYS`); a folder lake has no tiers.
    * **reap_orphans**: every cluster and job Contrail started is tagged with its DAG and run;
      those whose run has ended (success or failure) but that are still running are stopped, and
      each one stopped is logged. Untagged resources are never touched.
    """
    platforms.housekeeping_tasks()


contrail_housekeeping()
