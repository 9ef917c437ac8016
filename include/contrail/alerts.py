"""Notifications to one configurable connection: a task's failure or retry, and a nightly run that is late.

    CONTRAIL_ALERTS_CONN_ID=contrail_alerts          # an http connection: the webhook's URL in its host
    AIRFLOW_CONN_CONTRAIL_ALERTS='{"conn_type": "http", "host": "https://hooks.slack.com/services/T/B/X"}'
    CONTRAIL_NIGHTLY_DEADLINE_MINUTES=120            # the nightly ingest run's deadline after it was queued

Unset, nothing is sent (the local default). Each message is JSON with a human `text` (what a Slack
incoming webhook shows) and the fields a machine needs (event, dag_id, run_id, task_id, try_number,
error, url). Failures and retries go through the http provider's `HttpNotifier`, as task callbacks
(every task of every Contrail DAG); the late-night alert is a `DeadlineAlert` on `contrail_ingest`
whose callback runs in the triggerer and speaks only of scheduled (nightly) runs, never of a
backfill's queue. The webhook's address lives in the connection, never in code or a log.
"""

from __future__ import annotations

import datetime as dt
import os

from contrail.dag_defaults import ALERTS_SETTING as CONN_SETTING

DEADLINE_SETTING = "CONTRAIL_NIGHTLY_DEADLINE_MINUTES"
DEFAULT_DEADLINE_MINUTES = 120.0
HEADERS = {"Content-Type": "application/json"}

_TASK_FIELDS = {
    "dag_id": "{{ dag.dag_id }}",
    "run_id": "{{ run_id }}",
    "task_id": "{{ ti.task_id }}",
    "try_number": "{{ ti.try_number }}",
    "error": "{{ exception | string | truncate(500) }}",
    "url": "{{ ti.log_url }}",
}


def conn_id(environ: dict | None = None) -> str | None:
    environ = os.environ if environ is None else environ
    return (environ.get(CONN_SETTING) or "").strip() or None


def deadline_minutes(environ: dict | None = None) -> float:
    environ = os.environ if environ is None else environ
    raw = environ.get(DEADLINE_SETTING) or str(DEFAULT_DEADLINE_MINUTES)
    try:
        minutes = float(raw)
    except ValueError:
        minutes = -1.0
    if minutes <= 0:
        raise ValueError(f"{DEADLINE_SETTING}={raw!r}: give the nightly run's deadline in minutes after it is "
                         f"queued, a number above 0 (default {DEFAULT_DEADLINE_MINUTES:g})")
    return minutes


def task_payload(event: str) -> dict:
    """The templated JSON of a task's `event` ("failed", "up for retry"), rendered by the notifier."""
    return {"text": f"Contrail: task {{{{ ti.task_id }}}} of {{{{ dag.dag_id }}}} {event} (try {{{{ ti.try_number }}}}, "
                    f"run {{{{ run_id }}}}): {{{{ exception | string | truncate(300) }}}}",
            "event": event.replace(" ", "_"), **_TASK_FIELDS}


def task_callbacks(environ: dict | None = None) -> dict:
    """default_args entries that notify on each task's failure and retry (none when no connection is set)."""
    conn = conn_id(environ)
    if conn is None:
        return {}
    def notifier(event: str):
        return _notifier_class()(http_conn_id=conn, endpoint="", method="POST", json=task_payload(event), headers=HEADERS)

    return {"on_failure_callback": notifier("failed"), "on_retry_callback": notifier("up for retry")}


def _notifier_class():
    import copy

    from airflow.providers.http.notifications.http import HttpNotifier

    class TaskAlert(HttpNotifier):
        """HttpNotifier that renders a copy: default_args share one notifier among the tasks of a DAG, and
        rendering is in place, so one task's values would reach the next in a process that runs several.
        The webhook's address is masked in the task log first: an unreachable webhook's error quotes it."""

        def __call__(self, *args, **kwargs):
            from contrail import masking

            masking.mask_connection_address(self.http_conn_id)
            return HttpNotifier.__call__(copy.deepcopy(self), *args, **kwargs)

    return TaskAlert


def late_payload(dag_run: dict, deadline: dict, minutes: float) -> dict:
    dag_id, run_id = dag_run.get("dag_id"), dag_run.get("dag_run_id")
    return {"text": f"Contrail: the nightly run {run_id} of {dag_id} is not done {minutes:g} min after it was queued "
                    f"(deadline {deadline.get('deadline_time')}); it is {dag_run.get('state')}",
            "event": "deadline_missed", "dag_id": dag_id, "run_id": run_id, "state": dag_run.get("state"),
            "queued_at": dag_run.get("queued_at"), "deadline": str(deadline.get("deadline_time"))}


async def nightly_late(context: dict, conn: str, minutes: float, **_) -> None:
    """The deadline's callback (in the triggerer): post the late-night alert for a scheduled run."""
    dag_run = context.get("dag_run") or {}
    if dag_run.get("run_type") != "scheduled":  # a backfill queues many runs at once; their wait is no alarm
        return
    import aiohttp
    from airflow.providers.http.hooks.http import HttpAsyncHook
    from airflow.sdk import BaseHook

    from contrail import masking

    masking.mask_address((await BaseHook.aget_connection(conn)).host or "")  # the address is the secret
    payload = late_payload(dag_run, context.get("deadline") or {}, minutes)
    async with aiohttp.ClientSession() as session:
        await HttpAsyncHook(method="POST", http_conn_id=conn).run(session=session, endpoint="", json=payload,
                                                                  headers=HEADERS)


def nightly_deadline(environ: dict | None = None):
    """`deadline=` for the nightly DAG: a DeadlineAlert after the run is queued (None when no connection is set)."""
    conn = conn_id(environ)
    if conn is None:
        return None
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    minutes = deadline_minutes(environ)
    return DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT, interval=dt.timedelta(minutes=minutes),
                         callback=AsyncCallback(nightly_late, kwargs={"conn": conn, "minutes": minutes}))
