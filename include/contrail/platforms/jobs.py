"""What each Spark job in spark_jobs/ is given: its arguments over a set of days.

The same on every platform; only the lake's URI scheme differs (`storage.spark_uri`: file:// locally,
s3:// on EMR). A job publishes its results into the lake (partitions, counts), and the task after
the step reads them from there, so no platform ever needs a job's return value.
"""

from __future__ import annotations

from contrail import datasets, storage

JOBS = ("build_features", "score_features")


def arguments(job: str, days: list[str], params: dict | None = None) -> list[str]:
    """The command-line arguments of spark_jobs/<job>.py over `days`; `params` are the DAG run's params."""
    if job == "build_features":
        return ["--raw", storage.spark_uri("raw"), "--validated", storage.spark_uri("validated"),
                "--features", storage.spark_uri(datasets.FEATURES.path),
                "--counts", storage.spark_uri(datasets.FEATURE_COUNTS.path), "--dates", ",".join(days)]
    if job == "score_features":
        from contrail import scoring

        return scoring.job_arguments(days, use_current_champion=bool((params or {}).get("use_current_champion")))
    raise ValueError(f"unknown Spark job {job!r}: expected one of {', '.join(JOBS)}")
