"""The quality verdict of each (table, day): what downstream steps consult before consuming a day.

A verdict lives at `quality/<table>/dt=YYYY-MM-DD/verdict.json` under the data root, written in one
object put, so a reader sees the old verdict or the new one. `status` is `passed`, `warning` (the
run went on; the warnings are listed) or `failed` (a critical check failed: nothing downstream may
consume that day).
"""

from __future__ import annotations

import json

from contrail import storage

STATUSES = ("passed", "warning", "failed")


class QualityGateError(RuntimeError):
    """A step was asked to consume a day that failed (or never passed) its quality gate."""


def verdict_path(table: str, day: str):
    return storage.location(f"quality/{table}/dt={day}/verdict.json")


def write_verdict(verdict: dict) -> None:
    if verdict.get("status") not in STATUSES:
        raise ValueError(f"verdict status must be one of {STATUSES}, not {verdict.get('status')!r}")
    path = verdict_path(verdict["table"], verdict["dt"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(verdict, indent=1, sort_keys=True, default=str))
    from contrail import metrics

    metrics.quality(verdict)


def read_verdict(table: str, day: str) -> dict | None:
    path = verdict_path(table, day)
    if not path.exists():
        return None
    return json.loads(path.read_text())


def usable_days(table: str, days: list[str]) -> tuple[list[str], dict[str, str]]:
    """Split `days` into those whose `table` passed its gate (possibly with warnings) and the refused ones, with why."""
    usable, refused = [], {}
    for day in days:
        verdict = read_verdict(table, day)
        if verdict is None:
            refused[day] = f"no quality verdict for {table} dt={day} (its gate never ran)"
        elif verdict["status"] == "failed":
            refused[day] = f"{table} dt={day} failed critical checks: {', '.join(verdict.get('critical') or ['?'])}"
        else:
            usable.append(day)
    return usable, refused


def require_usable(table: str, days: list[str]) -> None:
    """Raise QualityGateError naming every day of `days` whose `table` may not be consumed."""
    _, refused = usable_days(table, days)
    if refused:
        raise QualityGateError(f"{len(refused)} day(s) of {table} did not pass quality: " + "; ".join(refused.values()))
