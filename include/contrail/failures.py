"""Which failures a retry can change, defined once.

A failed quality gate, a bad date or setting, a missing or corrupt partition, a window too small to
train on: nothing about them changes between tries, so retrying only delays the red run (six
minutes of back-off for a failed gate). Their exception classes derive from `Deterministic`, and
every Contrail task carries `retry_policy()` (Airflow's retry policy, through the DAGs' default
arguments, built when a task first fails: `dag_defaults.RetryPolicy`), which fails such a task at once without using its retries. Everything else (the network,
a busy store, a lock held too long, MLflow unreachable) keeps the DAG's retries.

A plain exception, so this module imports nothing of Airflow: `contrail.config` needs it before the
environment that Airflow reads its settings from is set, and the training image runs without it.
"""

from __future__ import annotations


class Deterministic(Exception):
    """A failure that a retry cannot change: the task fails at once, its message naming what and where."""


def retry_policy():
    """The retry policy of every Contrail task: a `Deterministic` failure fails at once, anything else retries."""
    from airflow.sdk.definitions.retry_policy import ExceptionRetryPolicy, RetryAction, RetryRule

    return ExceptionRetryPolicy(rules=[RetryRule(
        exception=f"{__name__}.{Deterministic.__qualname__}", action=RetryAction.FAIL,
        reason="a retry cannot change this failure (bad input, setting or gate): failing at once")])
