"""One platform interface: the active profile decides which engine runs a Spark step."""

from __future__ import annotations

from contrail.config import ConfigError, profile


def _not_built(prof) -> ConfigError:
    return ConfigError(
        f"Spark steps on profile {prof.name!r} (EMR, Dataproc, HDInsight) are not built yet; "
        "run with CONTRAIL_PROFILE=local"
    )


def run_spark_job(job: str, argv: list[str]):
    """Run spark_jobs/<job>.py with `argv` on the profile's engine, from inside a task; return its result."""
    prof = profile()
    if prof.name == "local":
        from contrail.platforms import local

        return local.run_argv(job, argv)
    raise _not_built(prof)


def spark_step(job: str, dates, **task_kwargs):
    """A task that runs spark_jobs/<job>.py over `dates` (an XComArg of YYYY-MM-DD strings)."""
    prof = profile()
    if prof.name == "local":
        from contrail.platforms import local

        return local.spark_step(job, dates, **task_kwargs)
    raise _not_built(prof)
