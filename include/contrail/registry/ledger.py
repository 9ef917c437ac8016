"""The promotion ledger: every promotion decision and rollback of a model, in order, in the lake.

One JSON object per event at `registry/<model>/promotions/<seq>-<action>-v<version>.json`, written
while the promotion lock is held, so the sequence numbers are the order the decisions were taken
in. Besides auditing, it answers which model was champion when (batch scoring of past dates) and
what a rollback restores.
"""

from __future__ import annotations

import datetime as dt
import json

from contrail import storage

ACTIONS = ("promoted", "refused", "rolled_back")


def folder(model: str):
    return storage.location(f"registry/{model}/promotions")


def history(model: str) -> list[dict]:
    """Every event of `model`, oldest first."""
    path = folder(model)
    if not path.exists():
        return []
    files = sorted(p for p in path.iterdir() if p.name.endswith(".json"))
    return [json.loads(p.read_text()) for p in files]


def record(model: str, action: str, version: str, **facts) -> dict:
    """Append one event (call with the promotion lock held)."""
    if action not in ACTIONS:
        raise ValueError(f"ledger action must be one of {ACTIONS}, not {action!r}")
    seq = len(history(model)) + 1
    event = {"seq": seq, "model": model, "action": action, "version": str(version),
             "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **facts}
    path = folder(model) / f"{seq:06d}-{action}-v{version}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(event, indent=1, sort_keys=True, default=str))
    return event


def champion_before(model: str, version: str) -> str | None:
    """The champion that `version` replaced when it was last promoted (the `previous` to keep after rolling back to it)."""
    for event in reversed(history(model)):
        if event["version"] == str(version) and event["action"] == "promoted":
            return event.get("champion_before")
    return None
