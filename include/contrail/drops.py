"""Labelled-data drops in the landing zone: find the ready ones, land them, mark them done.

Protocol for an upstream system: write `<landing>/flights/dt=YYYY-MM-DD/*.csv|parquet` and
`<landing>/weather/dt=YYYY-MM-DD/*`, then, last, the marker `<landing>/_ready/YYYY-MM-DD.json`
(any content). The marker says the drop is complete; the watcher fires on it. Once the day is
landed in the lake the marker moves to `<landing>/_done/` with the landing facts, so the same
drop is never landed twice and a failed landing leaves its marker for the retry.

CONTRAIL_LANDING_URL is the landing zone (local default: `<project>/landing`; `s3://…`, `gs://…`,
`abfs://…` with the cloud profiles, credentials from the profile's connection).
"""

from __future__ import annotations

import json
import os

from contrail import config
from contrail.dates import check_in_range, parse_day

READY, DONE = "_ready", "_done"


def landing_url() -> str:
    url = os.environ.get("CONTRAIL_LANDING_URL") or str(config.PROJECT_ROOT / "landing")
    return url if "://" in url else f"file://{os.path.abspath(url)}"


def _root():
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(landing_url(), conn_id=config.profile().storage_conn_id)


def ready_days() -> list[str]:
    """Days with a ready marker, checked to be 2013 days (a bad marker name is an error naming it)."""
    folder = _root() / READY
    if not folder.exists():
        return []
    days = []
    for marker in sorted(p for p in folder.iterdir() if p.name.endswith(".json")):
        try:
            day = parse_day(marker.name.removesuffix(".json"))
            check_in_range(day, f"landing marker {marker}")
        except ValueError as exc:
            raise ValueError(f"bad landing marker {marker}: name it YYYY-MM-DD.json for a 2013 day ({exc})") from exc
        days.append(f"{day}")
    return days


def land_ready() -> list[dict]:
    """Land flights and weather of every ready drop into raw/, then move its marker to _done/."""
    from contrail import ingest
    from contrail.sources.landing import LandingSource

    source = LandingSource(landing_url(), conn_id=config.profile().storage_conn_id)
    landed = []
    for day in ready_days():
        facts = ingest.land_many(("flights", "weather"), parse_day(day), source)
        marker = _root() / READY / f"{day}.json"
        done = _root() / DONE / f"{day}.json"
        done.parent.mkdir(parents=True, exist_ok=True)
        done.write_text(json.dumps({"dt": day, "landed": facts}, default=str, indent=1))
        marker.unlink()
        landed.append({"dt": day, "tables": {f["table"]: f["rows"] for f in facts}})
    return landed
