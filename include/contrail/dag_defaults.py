"""Arguments every Contrail DAG shares: owner, retries, start date, tags."""

from __future__ import annotations

import datetime as dt

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


def dag_kwargs(*tags: str, max_active_runs: int = 1) -> dict:
    """The @dag arguments every Contrail DAG shares (start date, no catch-up, owner and retries, the retry policy
    that fails a deterministic failure at once, the failure and retry notifications when an alerts connection
    is set, the `contrail` tag), plus its own tags and run limit."""
    from contrail import alerts, failures

    return {"start_date": START_DATE, "catchup": False, "max_active_runs": max_active_runs,
            "default_args": {**DEFAULT_ARGS, "retry_policy": failures.retry_policy(), **alerts.task_callbacks()},
            "tags": [*TAGS, *tags]}
