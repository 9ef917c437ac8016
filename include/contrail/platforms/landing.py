"""The deferrable sensor that waits for a ready marker in the landing zone, by the zone's URL scheme.

All of them defer to the triggerer while they wait, so a waiting watcher holds no worker slot. The
cloud sensors are the providers' own (S3KeySensor, GCSObjectsWithPrefixExistenceSensor,
WasbPrefixSensor), built when the task runs (CloudOperator), so the DAG parses without their SDKs.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from contrail.config import profile
from contrail.drops import READY, landing_url

WAIT = {"deferrable": True, "poke_interval": 30, "timeout": 3600, "soft_fail": True}
SENSORS = {
    "s3": "airflow.providers.amazon.aws.sensors.s3.S3KeySensor",
    "gs": "airflow.providers.google.cloud.sensors.gcs.GCSObjectsWithPrefixExistenceSensor",
    "wasb": "airflow.providers.microsoft.azure.sensors.wasb.WasbPrefixSensor",
}


def sensor_request(url: str, conn_id: str | None) -> tuple[str, dict]:
    """(provider sensor class, its arguments) for a landing zone on object storage (pure)."""
    parts = urlsplit(url)
    prefix = f"{parts.path.strip('/')}/{READY}/".lstrip("/")
    if parts.scheme in ("s3", "s3a"):
        return SENSORS["s3"], {"bucket_key": f"s3://{parts.netloc}/{prefix}*.json", "wildcard_match": True,
                               "aws_conn_id": conn_id, **WAIT}
    if parts.scheme == "gs":
        return SENSORS["gs"], {"bucket": parts.netloc, "prefix": prefix, "google_cloud_conn_id": conn_id, **WAIT}
    if parts.scheme in ("abfs", "abfss", "wasb", "wasbs"):
        return SENSORS["wasb"], {"container_name": parts.netloc.split("@")[0], "prefix": prefix, "wasb_conn_id": conn_id, **WAIT}
    raise ValueError(f"CONTRAIL_LANDING_URL {url!r}: use a folder, s3://, gs:// or abfs:// URL")


def drop_sensor(task_id: str):
    """A sensor that succeeds once `<landing>/_ready/*.json` exists (skipped after an hour without one)."""
    url = landing_url()
    parts = urlsplit(url)
    if parts.scheme == "file":
        from airflow.providers.standard.sensors.filesystem import FileSensor

        return FileSensor(task_id=task_id, filepath=f"{parts.path.rstrip('/')}/{READY}/*.json", fs_conn_id="fs_default", **WAIT)
    from contrail_plugins.cloud import CloudOperator

    operator, request = sensor_request(url, profile().storage_conn_id)
    return CloudOperator(task_id=task_id, operator=operator, request=request)
