"""Which 2013 days a DAG run processes, from its logical date, params or triggering asset events."""

from __future__ import annotations

import datetime as dt

from contrail.dates import check_in_range, data_date, day_range, parse_day
from contrail.inputs import BadInput


def run_day(dag_run) -> dt.date:
    """The data day of a run; manual and asset-triggered runs have no logical date, so use run_after."""
    logical = dag_run.logical_date or dag_run.run_after
    return data_date(logical)


def by_hand(params: dict) -> bool:
    """Whether the run's params name its days (start/end, or a list of days)."""
    return bool(params.get("start") or params.get("end") or params.get("days"))


def requested_days(params: dict, fallback: dt.date) -> list[dt.date]:
    """Days to process: params `days` (a list) or `start`/`end` if given, each checked (`parse_day`, then to be
    a 2013 day), else the fallback day. Only checked dates come out, so no param string reaches a path."""
    start, end, listed = params.get("start"), params.get("end"), params.get("days")
    if listed:
        if not isinstance(listed, (list, tuple)):
            raise BadInput(f"param days {listed!r} is refused: it is not a list; give a list of YYYY-MM-DD strings")
        days = sorted({parse_day(day, "param days") for day in listed})
        for day in days:
            check_in_range(day, "param days")
        return days
    if start or end:
        return span(start, end, PARAMS)
    return [fallback]


PARAMS, ARGUMENTS = ("param start", "param end", "params start/end"), ("--start", "--end", "--start/--end")


def span(start: str | None, end: str | None, names: tuple[str, str, str] = ARGUMENTS) -> list[dt.date]:
    """Every day from start to end (one of them alone: that day), each checked (`parse_day`, then to be a 2013
    day); `names` says what the two are called in errors (DAG params, or a command's arguments)."""
    first = parse_day(start or end, names[0] if start else names[1])
    days = day_range(first, parse_day(end or start, names[1] if end else names[0]))
    for day in days:
        check_in_range(day, names[2])
    return days


def event_extras(triggering_asset_events, asset) -> list[dict]:
    """The extra dicts of the events of `asset` that triggered this run (empty for other runs)."""
    if not triggering_asset_events:
        return []
    for key, events in triggering_asset_events.items():
        if getattr(key, "name", None) == asset.name:
            return [dict(e.extra or {}) for e in events]
    return []


def iso(days: list[dt.date]) -> list[str]:
    return [f"{d:%Y-%m-%d}" for d in days]


def days_or_stale(params: dict, stale, nothing_left: str) -> list[str]:
    """Days named by params (start/end or days), else those `stale()` returns; skips the task, saying why, if none."""
    if by_hand(params):
        return iso(requested_days(params, None))
    days = stale()
    if not days:
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException(nothing_left)
    return days


def failed_tasks(ti, dag_run) -> list[str]:
    """The other tasks of this run that failed or could not run because an upstream task failed.

    Airflow judges a run by its leaves: a leaf that runs whatever happened upstream (trigger rule
    all_done) must fail when this list is not empty, or a failed run would end green."""
    states = ti.get_task_states(dag_id=dag_run.dag_id, run_ids=[dag_run.run_id])
    per_task = states.get(dag_run.run_id, states)
    return sorted(t for t, state in per_task.items() if state in ("failed", "upstream_failed") and t != ti.task_id)
