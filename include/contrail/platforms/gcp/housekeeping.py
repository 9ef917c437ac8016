"""Housekeeping on Google Cloud: lifecycle rules that move the lake's old raw data to Coldline, then Archive."""

from __future__ import annotations

from contrail.config import ConfigError
from contrail.platforms.settings import Settings


def lifecycle_rules(prefix: str, archive_days: int, deep_archive_days: int) -> list[dict]:
    """The lake bucket's rules for `<prefix>raw/` (GCS lifecycle JSON): Coldline (still readable at once, for a
    backfill) after `archive_days`, Archive after `deep_archive_days`."""
    if not 0 < archive_days < deep_archive_days:
        raise ConfigError(f"CONTRAIL_RAW_ARCHIVE_DAYS={archive_days} must be above 0 and below "
                          f"CONTRAIL_RAW_DEEP_ARCHIVE_DAYS={deep_archive_days}")
    return [{"action": {"type": "SetStorageClass", "storageClass": cls},
             "condition": {"age": days, "matchesPrefix": [f"{prefix}raw/"], "matchesStorageClass": match}}
            for cls, days, match in (("COLDLINE", archive_days, ["STANDARD"]),
                                     ("ARCHIVE", deep_archive_days, ["STANDARD", "COLDLINE"]))]


def is_contrails(rule: dict, prefix: str) -> bool:
    return rule.get("action", {}).get("type") == "SetStorageClass" and \
        rule.get("condition", {}).get("matchesPrefix") == [f"{prefix}raw/"]


def apply_lake_policy(s: Settings) -> str:
    """Put Contrail's rules on the lake bucket, keeping every other rule the bucket has (idempotent)."""
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    from contrail.platforms.gcp import account

    conn = account.connection(s)
    bucket_name, path = account.bucket_of(account.lake_root(), "CONTRAIL_DATA_ROOT")
    prefix = f"{path.strip('/')}/" if path.strip("/") else ""
    bucket = GCSHook(gcp_conn_id=conn["gcp_conn_id"]).get_conn().get_bucket(bucket_name)
    kept = [dict(rule) for rule in bucket.lifecycle_rules if not is_contrails(dict(rule), prefix)]
    bucket.lifecycle_rules = kept + lifecycle_rules(prefix, s.number("raw_archive_days", int), s.number("raw_deep_archive_days", int))
    bucket.patch()
    return (f"gs://{bucket_name}/{prefix}raw/: Coldline after {s.get('raw_archive_days')} days, Archive after "
            f"{s.get('raw_deep_archive_days')} ({len(kept)} other rule(s) kept)")
