"""What every cloud's Spark executors need beside the job files: the lock's pins of what they import."""

from __future__ import annotations

import re
from pathlib import Path

from contrail.config import PROJECT_ROOT

# What the executors import to score with mlflow.pyfunc.spark_udf (the model's own pip requirements).
CLUSTER_PACKAGES = ("mlflow-skinny", "scikit-learn", "lightgbm", "pandas", "numpy", "pyarrow", "scipy", "skops", "cloudpickle")


def cluster_requirements(lock: Path = PROJECT_ROOT / "requirements.txt") -> str:
    """The pins of CLUSTER_PACKAGES in the lock, one per line (a missing one is an error, not a float)."""
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", lock.read_text(), re.M))
    pins = {name.lower().replace("_", "-"): version for name, version in pins.items()}
    missing = [p for p in CLUSTER_PACKAGES if p not in pins]
    if missing:
        raise SystemExit(f"{lock} pins no version of {', '.join(missing)}: re-lock with uv pip compile")
    return "".join(f"{p}=={pins[p]}\n" for p in CLUSTER_PACKAGES)


def job_files() -> dict[str, bytes]:
    """spark_jobs/*.py, keyed as they sit under a code URI."""
    return {f"spark_jobs/{p.name}": p.read_bytes() for p in sorted((PROJECT_ROOT / "spark_jobs").glob("*.py"))}
