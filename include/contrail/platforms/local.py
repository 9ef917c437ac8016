"""The local platform: Spark jobs run in the long-lived local Spark Connect server."""

from __future__ import annotations

import importlib
import logging

from contrail import datasets, storage

log = logging.getLogger(__name__)


def job_argv(job: str, dates: list[str]) -> list[str]:
    """The command-line arguments of a job over `dates`, the same ones a cluster's spark-submit gets."""
    if job == "build_features":
        return ["--raw", storage.spark_uri("raw"), "--validated", storage.spark_uri("validated"), "--features", storage.spark_uri(datasets.FEATURES.path),
                "--counts", storage.spark_uri(datasets.FEATURE_COUNTS.path), "--dates", ",".join(dates)]
    raise ValueError(f"unknown Spark job {job!r}: expected build_features")


def run_job(job: str, dates: list[str]) -> dict:
    """Run spark_jobs/<job>.py over `dates` in-process against the local Spark Connect server."""
    return run_argv(job, job_argv(job, dates))


def run_argv(job: str, argv: list[str]):
    """Run spark_jobs/<job>.py with `argv` in-process against the local Spark Connect server."""
    from contrail.spark import connect

    module = importlib.import_module(f"spark_jobs.{job}")
    log.info("running %s on %s: %s", job, connect.url(), " ".join(argv))
    return module.main(argv, spark=connect.session())


def spark_step(job: str, dates, **task_kwargs):
    from airflow.sdk import task

    @task(task_id=job, **task_kwargs)
    def run_local_spark_job(days: list[str]) -> None:
        run_job(job, days)

    return run_local_spark_job(dates)
