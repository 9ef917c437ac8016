"""Configuration profiles (local, aws, gcp, azure), chosen by CONTRAIL_PROFILE."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True)
class Profile:
    """Where data lives and which engine runs each step."""

    name: str
    data_root: str  # URL of the data lake root: file://, s3://, gs://, abfs://
    storage_conn_id: str | None  # Airflow connection holding the credentials, None for local
    spark_scheme: str  # the scheme Spark uses for the same storage (s3 -> s3a on open-source Spark)
    spark_remote: str | None = None  # local: Spark Connect URL of the long-lived server
    conn_setting: str | None = None  # the variable naming storage_conn_id, for error messages


def _local_root() -> str:
    root = os.environ.get("CONTRAIL_DATA_ROOT") or str(PROJECT_ROOT / "data")
    if "://" not in root:
        root = Path(root).resolve().as_uri()
    return root


def _cloud_root(profile: str, scheme: str) -> str:
    root = os.environ.get("CONTRAIL_DATA_ROOT")
    if not root:
        raise ConfigError(
            f"profile {profile!r} needs CONTRAIL_DATA_ROOT, e.g. {scheme}://my-bucket/contrail"
        )
    return root


def _build(name: str) -> Profile:
    if name == "local":
        port = os.environ.get("CONTRAIL_SPARK_CONNECT_PORT", "15102")
        return Profile("local", _local_root(), None, "file", f"sc://127.0.0.1:{port}")
    if name == "aws":
        return Profile("aws", _cloud_root(name, "s3"), os.environ.get("CONTRAIL_AWS_CONN_ID", "aws_default"), "s3",
                       conn_setting="CONTRAIL_AWS_CONN_ID")
    if name == "gcp":
        return Profile("gcp", _cloud_root(name, "gs"), os.environ.get("CONTRAIL_GCP_CONN_ID", "google_cloud_default"), "gs",
                       conn_setting="CONTRAIL_GCP_CONN_ID")
    if name == "azure":
        return Profile("azure", _cloud_root(name, "abfs"), os.environ.get("CONTRAIL_AZURE_CONN_ID", "wasb_default"), "abfss",
                       conn_setting="CONTRAIL_AZURE_CONN_ID")
    raise ConfigError(f"unknown CONTRAIL_PROFILE {name!r}: choose one of local, aws, gcp, azure")


PROFILES = ("local", "aws", "gcp", "azure")


def profile(name: str | None = None) -> Profile:
    """The active profile: `name`, else CONTRAIL_PROFILE, else local."""
    return _build(name or os.environ.get("CONTRAIL_PROFILE", "local"))
