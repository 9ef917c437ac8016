"""What the benchmarks share: a private Contrail/Airflow environment, timing and reporting.

Call `private_env()` before anything imports airflow: Airflow reads its configuration once, at
import. The environment is the tests' (`localenv.private`: contrail.env with a private AIRFLOW_HOME,
embedded PostgreSQL, data root and Spark Connect port) so a benchmark never touches a developer's deployment.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
DAGS_DIR = PROJECT_ROOT / "dags"
RESULTS_DIR = BENCH_DIR / "results"
VENV_BIN = PROJECT_ROOT / ".venv" / "bin"
# The Spark Connect port of the benchmarks: not the deployment's 15102 nor the tests' 15112.
SPARK_PORT = os.environ.get("CONTRAIL_BENCH_SPARK_PORT", "15122")
# Modules a DAG file must not import at parse time (design brief: "no heavy imports at module level").
HEAVY_MODULES = ("pandas", "pyspark", "mlflow", "great_expectations", "boto3", "google.cloud", "numpy")


def private_env(prefix: str, **overrides: str) -> Path:
    """Create a temp state dir with its own deployment (localenv.private); return the dir."""
    from contrail import localenv

    state = Path(tempfile.mkdtemp(prefix=prefix))
    localenv.private(state, CONTRAIL_SPARK_CONNECT_PORT=SPARK_PORT, AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="18795",
                     AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT="18796", **overrides)
    return state


def remove(state: Path) -> None:
    from contrail import postgres

    postgres.stop(state / "postgres")
    shutil.rmtree(state, ignore_errors=True)


def loaded(modules=HEAVY_MODULES, names=None) -> list[str]:
    """Which of `modules` (or a submodule of them) are in `names` (default: sys.modules)."""
    names = sys.modules.keys() if names is None else names
    return [m for m in modules if any(n == m or n.startswith(m + ".") for n in names)]


class Timer:
    """`with Timer() as t: ...` then t.s holds the wall seconds."""

    def __enter__(self):
        self.start = time.perf_counter()
        self.s = None
        return self

    def __exit__(self, *exc):
        self.s = time.perf_counter() - self.start
        return False


def median(values) -> float:
    return statistics.median(values)


def timed(fn, runs: int):
    """(median wall seconds of `runs` calls of fn, the last result)."""
    times, result = [], None
    for _ in range(runs):
        with Timer() as t:
            result = fn()
        times.append(t.s)
    return median(times), result


class Report:
    """Print lines and keep them, to write bench/results/<name>.txt at the end."""

    def __init__(self, name: str):
        self.name = name
        self.lines: list[str] = []

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.append(text)

    def header(self, title: str) -> None:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        self(f"== {title} ==")
        self(f"{dt.datetime.now():%Y-%m-%d %H:%M:%S}  host: {os.cpu_count()} cores, load average {load}, "
             f"Python {platform.python_version()}, {_versions()}")

    def table(self, headers: list[str], rows: list[list], right: set[int] = frozenset()) -> None:
        cells = [[str(c) for c in row] for row in [headers, *rows]]
        widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

        def line(row):
            return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()

        self(line(cells[0]))
        self("  ".join("-" * w for w in widths))
        for row in cells[1:]:
            self(line(row))

    def save(self) -> Path:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"{self.name}.txt"
        path.write_text("\n".join(self.lines) + "\n")
        print(f"(written to {path.relative_to(PROJECT_ROOT)})", flush=True)
        return path


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for dist in ("apache-airflow", "pyspark"):
        try:
            out.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            out.append(f"{dist} missing")
    return ", ".join(out)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def sec(seconds: float) -> str:
    return f"{seconds:.2f} s"


def duration(seconds: float) -> str:
    """Seconds as a readable span for projections: 45 s, 12.3 min, 2.4 h."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
