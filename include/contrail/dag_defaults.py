"""Arguments every Contrail DAG shares: owner, retries, start date, tags."""

from __future__ import annotations

import datetime as dt
import os

# The data starts on 2013-01-01, so any 2013 day can be backfilled; catchup=False on every DAG
# means unpausing one creates a single run for today, never a catch-up of 4,000 days.
START_DATE = dt.datetime(2013, 1, 1, tzinfo=dt.timezone.utc)

DEFAULT_ARGS = {
    "owner": "contrail",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=1),
    "retry_exponential_backoff": True,
}

TAGS = ["contrail"]
# The alerts connection's setting, defined here so that a DAG parse without it imports nothing of the alerts.
ALERTS_SETTING = "CONTRAIL_ALERTS_CONN_ID"


class RetryPolicy:
    """Airflow's retry-policy protocol (`evaluate` -> RetryDecision) over `contrail.failures.retry_policy()`,
    built the first time a task fails: a failing task pays for Airflow's retry-policy module, a DAG parse
    (every file, every 30 s) does not."""

    def __init__(self):
        self._policy = None

    def evaluate(self, **kwargs):
        if self._policy is None:
            from contrail import failures

            self._policy = failures.retry_policy()
        return self._policy.evaluate(**kwargs)

    def __repr__(self) -> str:
        return "RetryPolicy(contrail.failures.Deterministic: fail at once)"


def dag_kwargs(*tags: str, max_active_runs: int = 1) -> dict:
    """The @dag arguments every Contrail DAG shares (start date, no catch-up, owner and retries, the retry policy
    that fails a deterministic failure at once, the failure and retry notifications when an alerts connection
    is set, the `contrail` tag), plus its own tags and run limit."""
    callbacks = {}
    if (os.environ.get(ALERTS_SETTING) or "").strip():
        from contrail import alerts

        callbacks = alerts.task_callbacks()
    return {"start_date": START_DATE, "catchup": False, "max_active_runs": max_active_runs,
            "default_args": {**DEFAULT_ARGS, "retry_policy": RetryPolicy(), **callbacks}, "tags": [*TAGS, *tags]}
