"""The retraining policy read off the lake: the facts `schedule.walk` needs (which days are settled and
usable, which due trainings were decided, which final monitoring asked for retraining), and its answers
for the DAGs (the next training to run, the model that scores a day).

Training, scoring and monitoring all ask here, so the DAGs agree on one history whatever order their
runs happened in.
"""

from __future__ import annotations

from contrail import datasets, storage
from contrail.quality import ledger
from contrail.training import schedule

GATES = ("flights", "weather", "features")


def lake_days(policy: schedule.Policy | None = None) -> tuple[str | None, list[str]]:
    """(the last settled day of the unbroken run from the first landed day, the usable days).

    A day is settled when its features passed or failed their gate, or its flights failed theirs (a failed
    weather gate does not settle a day: it is built, degraded). A degraded day is usable only when the policy
    trains on degraded days."""
    policy = policy or schedule.Policy.from_settings()
    landed = set(storage.partition_mtimes(storage.location(datasets.RAW_FLIGHTS.path)))
    built = set(storage.partition_mtimes(storage.location(datasets.FEATURES.path)))
    judged = set(storage.partition_mtimes(storage.location("quality/features"))) | built
    settled, usable = set(), []
    for day in sorted(landed | judged):
        verdicts = {table: ledger.read_verdict(table, day) or {} for table in GATES}
        status = {table: v.get("status") for table, v in verdicts.items()}
        if status["features"] is not None or status["flights"] == "failed":
            settled.add(day)
            if (status["features"] not in (None, "failed") and day in built
                    and (policy.train_on_degraded or not verdicts["features"].get("degraded"))):
                usable.append(day)
    return schedule.settled_through(settled, landed, policy.start), usable


def decisions(model: str) -> list[dict]:
    """The promotion ledger's decisions on scheduled trainings (each with the `due` data date)."""
    from contrail.registry import ledger as promotions

    return [e for e in promotions.history(model) if e.get("due")]


def as_of(day: str, model: str, events: list[dict] | None = None) -> str | None:
    return schedule.as_of(day, decisions(model) if events is None else events)


def final_alarm(model: str, events: list[dict]):
    """`alarm(day)` for the walk: the retraining reasons of the day's monitoring, if that monitoring is final
    (the day and the trailing days it was judged with scored by their model as of each, and monitored since);
    None while it is not."""
    from contrail import scoring
    from contrail.monitoring import monitor

    def alarm(day: str) -> list[str] | None:
        manifest = scoring.read_manifest(day)
        figures = monitor.read_figures(day)
        if manifest is None or figures is None or str(manifest["model_version"]) != as_of(day, model, events):
            return None
        if str(figures.get("version")) != str(manifest["model_version"]) or not monitor.is_current(day, figures):
            return None
        return list(figures.get("retrain_reasons") or [])

    return alarm


def walk(model: str, policy: schedule.Policy | None = None) -> tuple[schedule.Walk, set[str]]:
    """The walk over the lake as it is now, and the due days already decided."""
    policy = policy or schedule.Policy.from_settings()
    events = decisions(model)
    decided = {e["due"] for e in events}
    through, usable = lake_days(policy)
    promoted = {e["due"] for e in events if e["action"] == "promoted"}
    return schedule.walk(through, usable, decided, policy, final_alarm(model, events), promoted), decided


def next_training(model: str, policy: schedule.Policy | None = None) -> tuple[schedule.Due | None, str]:
    """The next scheduled training to run, or None and why there is none now."""
    result, _ = walk(model, policy)
    due = result.due
    if due is not None:
        return due, f"due {due.day} ({due.reason})"
    if result.waiting:
        return None, result.waiting
    through, _ = lake_days(policy)
    return None, (f"no training is due through {through}, the last settled day" if through
                  else "no day is settled yet (no features built or refused)")
