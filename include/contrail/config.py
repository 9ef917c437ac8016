"""Configuration profiles (local, aws, gcp, azure), chosen by CONTRAIL_PROFILE."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from contrail.failures import Deterministic

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class ConfigError(Deterministic, ValueError):
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


# cloud profile: (the schemes its lake may use, the setting naming its connection, that setting's default, Spark's scheme)
CLOUDS = {
    "aws": (("s3",), "CONTRAIL_AWS_CONN_ID", "aws_default", "s3"),
    "gcp": (("gs", "gcs"), "CONTRAIL_GCP_CONN_ID", "google_cloud_default", "gs"),
    "azure": (("abfs", "abfss", "az", "wasb", "wasbs"), "CONTRAIL_AZURE_CONN_ID", "wasb_default", "abfss"),
}


def _root(profile: str, schemes: tuple[str, ...]) -> str:
    """CONTRAIL_DATA_ROOT, checked (contrail.inputs) before anything reads or writes the lake."""
    from contrail import inputs

    root = os.environ.get("CONTRAIL_DATA_ROOT") or (str(PROJECT_ROOT / "data") if profile == "local" else None)
    if not root:
        raise ConfigError(f"profile {profile!r} needs CONTRAIL_DATA_ROOT, e.g. {schemes[0]}://my-bucket/contrail")
    return inputs.storage_url(root, f"CONTRAIL_DATA_ROOT of profile {profile!r}", schemes)


def _port(setting: str, default: str) -> int:
    raw = os.environ.get(setting) or default
    if not (raw.isascii() and raw.isdigit() and 0 < int(raw) < 65536):
        raise ConfigError(f"{setting}={raw!r}: give a TCP port, a number from 1 to 65535 (default {default})")
    return int(raw)


def _build(name: str) -> Profile:
    from contrail import inputs

    if name == "local":
        port = _port("CONTRAIL_SPARK_CONNECT_PORT", "15102")
        return Profile("local", _root(name, ("file",)), None, "file", f"sc://127.0.0.1:{port}")
    if name in CLOUDS:
        schemes, setting, default, spark_scheme = CLOUDS[name]
        conn_id = inputs.name(os.environ.get(setting) or default, setting)
        return Profile(name, _root(name, schemes), conn_id, spark_scheme, conn_setting=setting)
    raise ConfigError(f"unknown CONTRAIL_PROFILE {name!r}: choose one of local, aws, gcp, azure")


PROFILES = ("local", "aws", "gcp", "azure")


def profile(name: str | None = None) -> Profile:
    """The active profile: `name`, else CONTRAIL_PROFILE, else local."""
    return _build(name or os.environ.get("CONTRAIL_PROFILE", "local"))
