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


def upload(code_uri: str, conn_id: str, files: dict[str, bytes]) -> list[str]:
    """Write `files` (key -> content) under `code_uri` through the path layer and connection `conn_id`; returns the
    URIs written."""
    from contrail import storage

    root = storage.path(code_uri.rstrip("/") + "/", conn_id)
    sent = []
    for key, body in files.items():
        (root / key).write_bytes(body)
        sent.append(f"{code_uri.rstrip('/')}/{key}")
    return sent


def deploy_parser(doc: str, example: str, setting: str, default_conn: str):
    """The argument parser every cloud's deploy command starts from: --code-uri and --conn-id."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--code-uri", required=True, help=f"{example} (becomes {setting})")
    parser.add_argument("--conn-id", default=default_conn, help="the Airflow connection to upload with")
    return parser


def report(sent: list[str], setting: str, code_uri: str) -> None:
    for uri in sent:
        print(f"uploaded {uri}")
    print(f"set {setting}={code_uri.rstrip('/')}")
