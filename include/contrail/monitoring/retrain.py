"""Retraining requests: which monitored day asks for retraining, within the cooldown, recorded in the lake.

A request is a JSON file `monitoring/retrain/<day>.json`. The cooldown counts data days (a backfill
of a month replays a month of nights in minutes, and must ask no more often than those nights
would have): no request within CONTRAIL_RETRAIN_COOLDOWN_DAYS days after the previous one's day.
Only days whose features passed quality may ask.
"""

from __future__ import annotations

import datetime as dt
import json

from contrail import storage
from contrail.quality import ledger


def folder():
    return storage.location("monitoring/retrain")


def requests() -> list[dict]:
    path = folder()
    if not path.exists():
        return []
    return [json.loads(p.read_text()) for p in sorted(path.iterdir()) if p.name.endswith(".json")]


def choose(figures: list[dict], cooldown_days: int) -> tuple[dict | None, list[str]]:
    """The first day of `figures` that asks for retraining outside the cooldown, and what was held back and why."""
    held = []
    earlier = [dt.date.fromisoformat(r["dt"]) for r in requests()]
    for f in sorted(figures, key=lambda f: f["dt"]):
        if not f["retrain_reasons"]:
            continue
        day = dt.date.fromisoformat(f["dt"])
        if ledger.usable_days("features", [f["dt"]])[1]:
            held.append(f"{f['dt']}: its features failed quality, so it cannot ask for retraining")
            continue
        recent = [e for e in earlier if abs((day - e).days) < cooldown_days]
        if recent:
            held.append(f"{f['dt']}: within the {cooldown_days}-day cooldown of the request for {max(recent)}")
            continue
        return f, held
    return None, held


def record(figures: dict) -> dict:
    request = {"dt": figures["dt"], "model": figures["model"], "version": figures["version"],
               "reasons": figures["retrain_reasons"], "report": figures.get("report"),
               "requested_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    path = folder() / f"{figures['dt']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(request, indent=1))
    return request
