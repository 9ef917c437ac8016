"""One platform interface: the active profile decides which engine runs a Spark step."""

from __future__ import annotations

from contrail.config import ConfigError, profile


def spark_step(job: str, dates, **task_kwargs):
    """A task that runs spark_jobs/<job>.py over `dates` (an XComArg of YYYY-MM-DD strings)."""
    prof = profile()
    if prof.name == "local":
        from contrail.platforms import local

        return local.spark_step(job, dates, **task_kwargs)
    raise ConfigError(
        f"Spark steps on profile {prof.name!r} (EMR, Dataproc, HDInsight) are not built yet; "
        "run with CONTRAIL_PROFILE=local"
    )
