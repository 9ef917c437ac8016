"""The quality steps of the features DAG, one call per task (each task pays the GX import once)."""

from __future__ import annotations

import logging

from contrail.dates import parse_day
from contrail.quality import gate, ledger

log = logging.getLogger(__name__)
RAW_TABLES = ("flights", "weather")


def check_raw(days: list[str]) -> list[str]:
    """Gate raw flights and weather of each day; return the days whose flights passed (warnings allowed).

    A day whose flights fail (a critical check, or an input that cannot be read, recorded as a failed
    verdict) is left out and named in the log; the task itself fails only when no day is left, so one
    bad day never holds up the rest. A day whose weather fails goes on without it, degraded
    (`contrail.quality.degraded`): weather is an auxiliary input.
    """
    validator = gate.validator()
    usable, problems = [], []
    for day in days:
        # an unreadable or missing input comes back as a failed verdict; a store that broke off raises and retries
        verdicts = {table: gate.gate_raw(table, parse_day(day), gx=validator) for table in RAW_TABLES}
        if verdicts["flights"]["status"] == "failed":
            problems.append(f"flights dt={day}: " + "; ".join(verdicts["flights"]["critical"]))
            continue
        if verdicts["weather"]["status"] == "failed":
            log.warning("weather dt=%s failed its gate (%s): the day is built without weather, degraded", day,
                        "; ".join(verdicts["weather"]["critical"]))
        usable.append(day)
    return _keep_going(usable, problems, "raw")


def check_features(days: list[str]) -> list[str]:
    """Gate each day's features; return the days that passed."""
    validator = gate.validator()
    usable, problems = [], []
    for day in days:
        verdict = gate.gate_features(parse_day(day), gx=validator)
        if verdict["status"] == "failed":
            problems.append(f"features dt={day}: " + "; ".join(verdict["critical"]))
        else:
            usable.append(day)
    return _keep_going(usable, problems, "features")


def _keep_going(usable: list[str], problems: list[str], what: str) -> list[str]:
    for problem in problems:
        log.error("quality gate failed: %s", problem)
    if not usable:
        raise gate.QualityFailed(f"no day passed the {what} quality gate: " + " | ".join(problems))
    return usable


def verdict(days: list[str], failed_tasks: list[str] = ()) -> None:
    """Fail (naming days, tables and checks) if any day of the run failed or missed its flights or features gate,
    or (naming them) if tasks of the run failed: this verdict is the run's last word. Degraded days (weather
    failed or missing for many flights) are published and named in the log, not failed."""
    from contrail.quality import degraded

    problems, short = [], []
    for day in days:
        refused = ledger.usable_days("flights", [day])[1] or ledger.usable_days("features", [day])[1]
        problems += refused.values()
        reasons = [] if refused else degraded.of(day)
        if reasons:
            short.append(f"{day} ({'; '.join(reasons)})")
    if short:
        log.warning("%d day(s) published degraded (scored with the mark, left out of training): %s", len(short), " | ".join(short))
    text = [f"{len(problems)} gate(s) failed; those days are not published: " + " | ".join(problems)] if problems else []
    if failed_tasks:
        text.append(f"task(s) of this run failed or could not run after a failure: {', '.join(failed_tasks)} (see their logs)")
    if text:
        raise gate.QualityFailed("; ".join(text))
    log.info("quality: every gate passed for %s", ", ".join(days) or "no day")
