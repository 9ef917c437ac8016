"""Retraining requests, recorded in the lake: a JSON file `monitoring/retrain/<day>.json` for each day
that the retraining policy (training/schedule.py) made due on its monitoring's alarm.

The policy decides, not this module: the cooldown counts data days after the last training (a
backfill of a month replays a month of nights in minutes, and must retrain no more often than
those nights would have), and only days whose features passed quality can be due.
"""

from __future__ import annotations

import datetime as dt
import json

from contrail import storage


def folder():
    return storage.location("monitoring/retrain")


def requests() -> list[dict]:
    path = folder()
    if not path.exists():
        return []
    return [json.loads(p.read_text()) for p in sorted(path.iterdir()) if p.name.endswith(".json")]


def record(due, figures: dict | None) -> dict:
    """The request for training `due` (a schedule.Due) on its day's alarm; `figures`: that day's monitoring."""
    figures = figures or {}
    request = {"dt": due.day, "reason": due.reason, "model": figures.get("model"), "version": figures.get("version"),
               "reasons": figures.get("retrain_reasons", []), "report": figures.get("report"),
               "requested_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    path = folder() / f"{due.day}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(request, indent=1))
    return request
