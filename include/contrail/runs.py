"""Which 2013 days a DAG run processes, from its logical date, params or triggering asset events."""

from __future__ import annotations

import datetime as dt

from contrail.dates import check_in_range, data_date, day_range, parse_day


def run_day(dag_run) -> dt.date:
    """The data day of a run; manual and asset-triggered runs have no logical date, so use run_after."""
    logical = dag_run.logical_date or dag_run.run_after
    return data_date(logical)


def requested_days(params: dict, fallback: dt.date) -> list[dt.date]:
    """Days to process: params start/end if given (checked to be 2013 days), else the fallback day."""
    start, end = params.get("start"), params.get("end")
    if start or end:
        first = parse_day(start or end)
        days = day_range(first, parse_day(end or start))
        for day in days:
            check_in_range(day, "params start/end")
        return days
    return [fallback]


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
    """Days named by params start/end, else those `stale()` returns; skips the task, saying why, if none."""
    if params.get("start") or params.get("end"):
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
