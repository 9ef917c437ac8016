"""The deferrable sensor that waits for a ready marker in the landing zone, per profile.

All of them defer to the triggerer while they wait, so a waiting watcher holds no worker slot.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from contrail.config import profile
from contrail.drops import READY, landing_url

WAIT = {"deferrable": True, "poke_interval": 30, "timeout": 3600, "soft_fail": True}


def drop_sensor(task_id: str):
    """A sensor that succeeds once `<landing>/_ready/*.json` exists (skipped after an hour without one)."""
    prof, url = profile(), landing_url()
    parts = urlsplit(url)
    prefix = f"{parts.path.strip('/')}/{READY}/".lstrip("/")
    if parts.scheme == "file":
        from airflow.providers.standard.sensors.filesystem import FileSensor

        return FileSensor(task_id=task_id, filepath=f"{parts.path.rstrip('/')}/{READY}/*.json", fs_conn_id="fs_default", **WAIT)
    if parts.scheme in ("s3", "s3a"):
        from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor

        return S3KeySensor(task_id=task_id, bucket_key=f"s3://{parts.netloc}/{prefix}*.json", wildcard_match=True,
                           aws_conn_id=prof.storage_conn_id, **WAIT)
    if parts.scheme == "gs":
        from airflow.providers.google.cloud.sensors.gcs import GCSObjectsWithPrefixExistenceSensor

        return GCSObjectsWithPrefixExistenceSensor(task_id=task_id, bucket=parts.netloc, prefix=prefix,
                                                   google_cloud_conn_id=prof.storage_conn_id, **WAIT)
    if parts.scheme in ("abfs", "abfss", "wasb", "wasbs"):
        from airflow.providers.microsoft.azure.sensors.wasb import WasbPrefixSensor

        container = parts.netloc.split("@")[0]
        return WasbPrefixSensor(task_id=task_id, container_name=container, prefix=prefix,
                                wasb_conn_id=prof.storage_conn_id, **WAIT)
    raise ValueError(f"CONTRAIL_LANDING_URL {url!r}: use a folder, s3://, gs:// or abfs:// URL")
