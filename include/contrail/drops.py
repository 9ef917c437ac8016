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
from contrail.failures import Deterministic

READY, DONE, REJECTED = "_ready", "_done", "_rejected"


def landing_url() -> str:
    """CONTRAIL_LANDING_URL as a URL, checked (contrail.inputs) before anything reads the landing zone."""
    from contrail import inputs, storage

    url = os.environ.get("CONTRAIL_LANDING_URL") or str(config.PROJECT_ROOT / "landing")
    return inputs.storage_url(url, "CONTRAIL_LANDING_URL", tuple(sorted(storage.KNOWN_SCHEMES)))


def _root():
    from contrail import storage

    return storage.path(landing_url(), config.profile().storage_conn_id)


def ready_days() -> list[str]:
    """Days with a well-formed ready marker (YYYY-MM-DD.json naming a 2013 day), oldest first."""
    return scan()[0]


def scan() -> tuple[list[str], dict[str, str]]:
    """Ready days, and every other object under `_ready/` with why it is not a marker."""
    folder = _root() / READY
    if not folder.exists():
        return [], {}
    days, bad = [], {}
    for marker in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            if not marker.name.endswith(".json"):
                raise ValueError("not a .json marker")
            day = parse_day(marker.name.removesuffix(".json"), "landing marker name")
            check_in_range(day, f"landing marker {marker}")
        except ValueError as exc:
            bad[marker.name] = f"bad landing marker {marker}: name it YYYY-MM-DD.json for a 2013 day ({exc})"
            continue
        days.append(f"{day}")
    return days, bad


class BadMarkers(Deterministic, ValueError):
    """Objects under `_ready/` that are not markers; they were moved to `_rejected/` (the good drops landed)."""


def _reject(bad: dict[str, str]) -> None:
    """Move bad markers to `_rejected/` beside a note of why, so the watcher does not fire on them again."""
    for name, why in bad.items():
        target = _root() / REJECTED / name
        target.parent.mkdir(parents=True, exist_ok=True)
        source = _root() / READY / name
        target.write_bytes(source.read_bytes())
        source.unlink()
        (_root() / REJECTED / f"{name}.why.txt").write_text(why + "\n")


def land_ready() -> list[dict]:
    """Land flights and weather of every ready drop into raw/, then move its marker to _done/.

    Anything else under `_ready/` is moved to `_rejected/` (with a note of why) after the good drops
    landed, and BadMarkers names it: nothing is lost and the watcher does not fire on it again."""
    from contrail import ingest, storage
    from contrail.sources.landing import CONVERTED, LandingSource

    source = LandingSource(landing_url(), conn_id=config.profile().storage_conn_id)
    days, bad = scan()
    landed = []
    for day in days:
        facts = ingest.land_many(("flights", "weather"), parse_day(day), source)
        for table in ("flights", "weather"):  # a converter's copy of the day is landed: it must not outlive the drop
            storage.remove_partition(_root() / CONVERTED / table / f"dt={day}")
        marker = _root() / READY / f"{day}.json"
        done = _root() / DONE / f"{day}.json"
        done.parent.mkdir(parents=True, exist_ok=True)
        done.write_text(json.dumps({"dt": day, "landed": facts}, default=str, indent=1))
        marker.unlink()
        landed.append({"dt": day, "tables": {f["table"]: f["rows"] for f in facts}})
    if bad:
        _reject(bad)
        kept = f"; landed first: {', '.join(d['dt'] for d in landed)} (the next features run builds them)" if landed else ""
        raise BadMarkers(f"{len(bad)} object(s) in {landing_url()}/{READY}/ are not markers, moved to {REJECTED}/: "
                         + "; ".join(bad.values()) + kept)
    return landed
