"""Scenario 1, the Spark job: spark_jobs/build_features.py SIGKILLed early, midway and late while it publishes
a new version of three days' features, then retried.

The job runs as the local profile runs it (a client process of the Spark Connect server). Every day's
features partition starts as version A (built from the validated rows); the killed runs and the retry
build version B (10 % of the flights withdrawn). A reader polls every day the whole time: it must see
each day as A or B, whole, never missing and never a mix; after each kill the same holds; the retry
converges to what a clean run of B publishes, with no staging folder left.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from contrail import datasets, ingest, storage
from spark_jobs import build_features, lake

pytestmark = pytest.mark.spark

DAYS = ["2013-06-03", "2013-06-04", "2013-06-05"]
CHILD = ("import sys; from pyspark.sql import SparkSession; from spark_jobs import build_features as job; "
         "job.main(sys.argv[2:], spark=SparkSession.builder.remote(sys.argv[1]).getOrCreate())")


def digest(frame) -> str:
    """An order-independent digest of a partition's rows."""
    frame = frame[sorted(frame.columns)].sort_values(sorted(frame.columns)).reset_index(drop=True)
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()


def read(day: str):
    """A day's features as a reader of the lake sees them."""
    return storage.read_parquet(storage.location(f"features/dt={day}"))


def root() -> Path:
    return Path(os.environ["CONTRAIL_DATA_ROOT"])


def argv(features: Path) -> list[str]:
    return ["--raw", storage.spark_uri("raw"), "--validated", storage.spark_uri("validated"), "--features",
            features.as_uri(), "--counts", (features.parent / f"{features.name}_counts").as_uri(), "--dates", ",".join(DAYS)]


def validated(keep_every_tenth: bool) -> int:
    """Publish each day's raw flights and weather as validated (version A), or without every tenth flight (B)."""
    rows = 0
    for day in DAYS:
        for table in ("flights", "weather"):
            frame = storage.read_parquet(storage.location(datasets.BY_NAME[f"raw_{table}"].partition(dt.date.fromisoformat(day))))
            if table == "flights" and not keep_every_tenth:
                frame = frame.iloc[[i for i in range(len(frame)) if i % 10]]
            rows += storage.write_parquet_atomically(frame, storage.location(datasets.VALIDATED[table].partition(dt.date.fromisoformat(day))))
    return rows


def versions() -> dict[str, str]:
    return {day: digest(read(day)) for day in DAYS}


class Reader(threading.Thread):
    def __init__(self, allowed: dict[str, set[str]]) -> None:
        super().__init__(daemon=True)
        self.allowed = allowed
        self.stop, self.reads, self.rows, self.bad = threading.Event(), 0, 0, []

    def run(self) -> None:
        while not self.stop.is_set():
            for day in DAYS:
                try:
                    frame = read(day)
                except storage.MissingPartition as exc:
                    self.bad.append(f"{day}: {exc}")
                    continue
                self.reads, self.rows = self.reads + 1, self.rows + len(frame)
                if digest(frame) not in self.allowed[day]:
                    self.bad.append(f"{day}: neither version A nor B")
            time.sleep(0.05)


def kill_point(features: Path, point: str, before: dict[str, int]) -> bool:
    """Has the job reached `point`? early: it began writing its staging folder; midway: Parquet files are in it;
    late: at least one day has been swapped in (its folder is another inode now)."""
    staging = [p for p in features.glob(f"{lake.JOB_STAGING}*") if p.is_dir()]
    if point == "early":
        return bool(staging)
    if point == "midway":
        return any(path.endswith(".parquet") for path, _ in staged_files(features))
    return any((features / f"dt={d}").exists() and (features / f"dt={d}").stat().st_ino != before[d] for d in DAYS)


def staged_files(features: Path) -> list[tuple[str, int]]:
    """(path, size) of every file under the staging folders, read while the server may still be removing them:
    os.walk skips a folder that vanishes under it, and a file gone between listing and stat is left out."""
    found = []
    for staging in features.glob(f"{lake.JOB_STAGING}*"):
        for folder, _, names in os.walk(staging):
            for name in names:
                try:
                    found.append((os.path.join(folder, name), os.stat(os.path.join(folder, name)).st_size))
                except FileNotFoundError:
                    pass
    return sorted(found)


def settled(features: Path) -> None:
    """Wait until what a killed client's server went on writing has stopped changing (at most a minute)."""
    last, deadline = None, time.monotonic() + 60
    while time.monotonic() < deadline:
        now = staged_files(features)
        if now == last:
            return
        last = now
        time.sleep(0.5)


def test_a_feature_job_killed_while_publishing_loses_nothing_and_its_retry_converges(spark, tmp_path, monkeypatch, fault_report):
    import pandas as pd

    from contrail.spark import connect

    monkeypatch.setenv("CONTRAIL_DATA_ROOT", str(tmp_path / "lake"))
    for day in DAYS:
        ingest.land_many(["flights", "weather", "planes"], dt.date.fromisoformat(day))
    features, reference = root() / "features", tmp_path / "reference" / "features"
    validated(keep_every_tenth=True)
    build_features.main(argv(features), spark=spark)
    version_a = versions()
    validated(keep_every_tenth=False)
    build_features.main(argv(reference), spark=spark)
    version_b = {day: digest(pd.read_parquet(reference / f"dt={day}")) for day in DAYS}
    assert all(version_a[d] != version_b[d] for d in DAYS)

    reader = Reader({d: {version_a[d], version_b[d]} for d in DAYS})
    reader.start()
    kills = 0
    for point in ("early", "midway", "late"):
        before = {d: (features / f"dt={d}").stat().st_ino for d in DAYS}
        child = subprocess.Popen([sys.executable, "-c", CHILD, connect.url(), *argv(features)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        while child.poll() is None and not kill_point(features, point, before):
            time.sleep(0.01)
        assert child.poll() is None, f"the job ended before the {point} kill point: {child.stderr.read()[-2000:]}"
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
        kills += 1
        assert {d: digest(read(d)) in (version_a[d], version_b[d]) for d in DAYS} == dict.fromkeys(DAYS, True), point
        settled(features)
    build_features.main(argv(features), spark=spark)  # the retry
    reader.stop.set()
    reader.join(timeout=60)
    assert reader.reads > 0 and reader.bad == [], reader.bad[:5]
    assert versions() == version_b
    assert not list(features.glob(f"{lake.JOB_STAGING}*")) and not list(features.parent.glob(f"features_counts/{lake.JOB_STAGING}*"))
    final = [read(d) for d in DAYS]
    fault_report.add("1 killed writer: Spark feature job", faults=kills, cases=3, rows=reader.rows + sum(map(len, final)),
                     lost=sum(len(pd.read_parquet(reference / f"dt={d}")) for d in DAYS) - sum(map(len, final)))

