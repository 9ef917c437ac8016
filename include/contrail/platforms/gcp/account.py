"""The Google Cloud project a step runs in: its connection, project and region, the labels Contrail puts on
what it starts, and the checks a plan makes before it starts anything (a missing connection, project,
region, bucket or service account fails the first task that needs it, naming the setting).
"""

from __future__ import annotations

import re

from contrail.config import ConfigError
from contrail.platforms.naming import Names
from contrail.platforms.settings import Settings

LABEL_PREFIX = "contrail-"


def connection(s: Settings) -> dict:
    """{"gcp_conn_id", "project_id", "region"} for every operator of the step; the connection must exist."""
    from contrail.platforms.settings import connection as airflow_connection

    conn_id = s.need("conn_id")
    conn = airflow_connection(conn_id, "CONTRAIL_GCP_CONN_ID", f"Secret Manager secret airflow-connections-{conn_id}")
    extra = conn.extra_dejson
    project = s.get("project") or extra.get("project") or extra.get("extra__google_cloud_platform__project")
    if not project:
        raise ConfigError(f"no Google Cloud project: set CONTRAIL_GCP_PROJECT or `project` in the extra of connection {conn_id!r}")
    return {"gcp_conn_id": conn_id, "project_id": project, "region": s.need("region")}


def bucket_of(uri: str, setting: str) -> tuple[str, str]:
    if not uri.startswith(("gs://", "gcs://")):
        raise ConfigError(f"{setting}={uri!r}: expected a gs:// URI")
    bucket, _, path = uri.split("://", 1)[1].partition("/")
    return bucket, path


def require_bucket(uri: str, setting: str, conn: dict) -> None:
    """The bucket of `uri` exists and the connection can reach it."""
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    bucket, _ = bucket_of(uri, setting)
    try:
        found = GCSHook(gcp_conn_id=conn["gcp_conn_id"]).get_conn().lookup_bucket(bucket)
    except Exception as exc:  # noqa: BLE001  (whatever the client raises, the setting is what to fix)
        raise ConfigError(f"{setting} names bucket {bucket!r}, which connection {conn['gcp_conn_id']!r} cannot reach "
                          f"({type(exc).__name__}: {exc}): fix {setting} or the connection") from None
    if found is None:
        raise ConfigError(f"{setting} names bucket {bucket!r}, which does not exist: create it or fix {setting}")


def require_service_account(s: Settings, key: str, conn: dict) -> str:
    """A service account e-mail of the project (checked by its form: listing IAM needs more than Airflow's role)."""
    account = s.need(key)
    setting = s.env(key)
    if not re.fullmatch(r"[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9.-]+\.gserviceaccount\.com", account):
        raise ConfigError(f"{setting}={account!r}: expected a service account e-mail, NAME@PROJECT.iam.gserviceaccount.com")
    return account


def lake_root() -> str:
    from contrail.config import profile

    return profile().data_root.rstrip("/")


def label(text: str) -> str:
    """A label value: lowercase letters, digits, '-' and '_', at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-")[:63]


def labels(names: Names) -> dict[str, str]:
    """Contrail's tags as labels (what the reaper reads back); the run id as a label is lossy, so its digest rides along."""
    return {f"{LABEL_PREFIX}{key.split(':', 1)[1].replace('_', '-')}": label(value) for key, value in names.tags().items()} | {
        f"{LABEL_PREFIX}digest": names.digest}


def resource(names: Names, kind: str = "", max_len: int = 51) -> str:
    """A cluster, job or batch name: lowercase, starting with a letter (Dataproc allows 51 characters for a cluster)."""
    return names.resource(kind, max_len=max_len).lower()
