"""The platform seam: one interface for every step that runs somewhere, one module per profile.

`PLATFORMS` maps a profile (`CONTRAIL_PROFILE`) to the module implementing it; `base.py` says what
each module provides, `steps.py` builds every step into the same task ids and dependencies on
every profile (only the operators inside a step differ). `local` is complete: today's pipeline on
the long-lived local Spark server and in-process training. A DAG file imports this package and
nothing of a cloud: the profile's module imports its provider only inside the tasks it builds.
"""

from __future__ import annotations

import importlib
import os

PLATFORMS = {"local": "contrail.platforms.local", "aws": "contrail.platforms.aws", "gcp": "contrail.platforms.gcp",
             "azure": "contrail.platforms.azure"}


def active_name() -> str:
    """The profile's name; the DAG files parse with it alone (settings are read when tasks run)."""
    return os.environ.get("CONTRAIL_PROFILE", "local").strip() or "local"


def module(name: str | None = None):
    """The platform module of `name` (default: the active profile)."""
    name = name or active_name()
    if name not in PLATFORMS:
        from contrail.config import ConfigError

        raise ConfigError(f"unknown CONTRAIL_PROFILE {name!r}: choose one of {', '.join(PLATFORMS)}")
    return importlib.import_module(PLATFORMS[name])


def spark_session():
    """A Spark session for work that runs inside a task (the Spark quality engine), on the profile's Spark."""
    return module().spark_session()


from contrail.platforms.steps import (  # noqa: E402  (the DAG files' entry points)
    housekeeping_tasks,
    landing_steps,
    mirror_step,
    serving_step,
    spark_step,
    training_step,
)

__all__ = ["PLATFORMS", "module", "spark_session", "spark_step", "training_step", "mirror_step", "serving_step",
           "landing_steps", "housekeeping_tasks"]
