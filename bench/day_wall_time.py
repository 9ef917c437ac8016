"""Wall time of one local day (ingest + features) through Airflow, and how much of it is JVM start-up.

    .venv/bin/python bench/day_wall_time.py [--keep]

In one run, with a private AIRFLOW_HOME, embedded PostgreSQL, data root and Spark Connect port (15122,
or CONTRAIL_BENCH_SPARK_PORT), all in a temp dir that is removed at the end:
  (a) Spark Connect server cold start: connect.ensure_server() until the port listens
  (b) the first day through Airflow, server up: contrail_ingest dag.test(logical_date=day), then
      contrail_features dag.test(run_conf={"start": day, "end": day})
  (c) a second and a third day the same way (warm)
  (e) the feature job alone, in-process over the warm Connect session: 7 one-day jobs and one job
      over the same 7 days
  (d) the same job for one day as a fresh `spark-submit` process (the per-task-JVM path), after the
      Connect server is stopped, and a no-op spark-submit (JVM + SparkSession + one tiny action)
Then a summary: the JVM start-up share of a per-task-JVM day, and 365-day backfill projections.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import math
import subprocess
import sys
from pathlib import Path

import _env

FIRST, SECOND, THIRD = "2013-01-01", "2013-01-02", "2013-01-03"
RANGE = [f"2013-01-{d:02d}" for d in range(4, 11)]  # 7 days for the range-vs-per-day comparison
YEAR = 365
NOOP_JOB = ("from pyspark.sql import SparkSession\n"
            "SparkSession.builder.appName('bench-noop').getOrCreate().range(1).count()\n")


def day(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc)


def airflow_day(dags: dict, text: str, report) -> tuple[float, float]:
    """One day through Airflow: ingest then features; return both wall times."""
    with _env.Timer() as ingest:
        _test(dags["contrail_ingest"], logical_date=day(text))
    with _env.Timer() as features:
        _test(dags["contrail_features"], run_conf={"start": text, "end": text})
    report(f"  {text}: ingest {_env.sec(ingest.s)}, features {_env.sec(features.s)}, day {_env.sec(ingest.s + features.s)}")
    return ingest.s, features.s


def _test(dag, **kwargs) -> None:
    """dag.test(), its task output (e.g. the job's CONTRAIL_COUNTS line) shown only if the run fails."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        dag_run = dag.test(**kwargs)
    if str(dag_run.state) != "success":
        states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
        print(out.getvalue()[-5000:])
        raise RuntimeError(f"{dag_run.dag_id} run {dag_run.run_id} ended {dag_run.state}: {states}")


def job(dates: list[str]) -> float:
    """The feature job in-process over the Connect session, as the local platform's task runs it."""
    from contrail.platforms import local

    with _env.Timer() as t, contextlib.redirect_stdout(io.StringIO()):  # main() prints CONTRAIL_COUNTS
        local.run_job("build_features", dates)
    return t.s


def spark_submit(script: Path, args: list[str], log: Path) -> float:
    """Wall time of a fresh `spark-submit --master local[2]` process (a JVM of its own)."""
    from contrail.spark import connect

    conf = [x for k, v in connect.SERVER_CONF.items() if not k.startswith("spark.connect.")
            for x in ("--conf", f"{k}={v}")]  # the server's settings (ui off, 4 shuffle partitions, ...)
    cmd = [connect.spark_submit(), "--master", "local[2]", *conf, str(script), *args]
    env = connect.server_env()
    for leaked in ("SPARK_CONNECT_MODE_ENABLED", "SPARK_LOCAL_REMOTE"):  # set by pyspark once this process made
        env.pop(leaked, None)                                        # a Connect session; classic Spark refuses them
    with _env.Timer() as t, open(log, "w") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=600)
    if proc.returncode:
        raise RuntimeError(f"spark-submit {script.name} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
    return t.s


def measure(state: Path, report) -> dict:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    from contrail import ingest, storage
    from contrail.spark import connect

    f = {}
    report("setup (not counted)")
    with _env.Timer() as t, contextlib.redirect_stdout(io.StringIO()):
        db.resetdb()
    report(f"  fresh metadata DB (PostgreSQL): {_env.sec(t.s)}")
    with _env.Timer() as t:
        dags = DagBag(dag_folder=str(_env.DAGS_DIR)).dags
    report(f"  DagBag of dags/: {_env.sec(t.s)} ({', '.join(sorted(dags))})")

    report("(a) Spark Connect server cold start (ensure_server until the port listens; polled every 0.5 s)")
    with _env.Timer() as t:
        connect.ensure_server()
    f["cold_start"] = t.s
    report(f"  {_env.sec(t.s)} on port {connect.port()}")

    report("(b) first day through Airflow, server already up (includes Airflow's first dag.test and the first query on the fresh JVM)")
    f["day1"] = airflow_day(dags, FIRST, report)
    report("(c) second and third day (warm)")
    warm = [airflow_day(dags, d, report) for d in (SECOND, THIRD)]
    f["ingest_warm"] = _env.median(w[0] for w in warm)
    f["features_warm"] = _env.median(w[1] for w in warm)

    with _env.Timer() as t:  # raw input for the 7-day comparison, landed without Airflow
        for d in RANGE:
            ingest.land_many(list(ingest.TABLES), day(d).date())
    f["ingest_work"] = t.s / len(RANGE)
    report(f"  (raw data for {RANGE[0]}..{RANGE[-1]} landed in-process without Airflow: {_env.sec(f['ingest_work'])} a day)")
    from contrail.quality import gate  # the feature job reads validated rows: gate them (not counted)

    validator = gate.validator()
    for d in RANGE:
        for table in ("flights", "weather"):
            gate.gate_raw(table, day(d).date(), gx=validator, engine="pandas")

    report("(e) feature job alone, in-process over the warm Connect session")
    singles = [job([d]) for d in RANGE]
    f["job_day"] = _env.median(singles)
    f["job_7_singles"] = sum(singles)
    f["job_range7"] = job(RANGE)
    report(f"  one day: median {_env.sec(f['job_day'])} (min {_env.sec(min(singles))}, max {_env.sec(max(singles))})")
    report(f"  7 days as 7 one-day jobs: {_env.sec(f['job_7_singles'])};  as one range job: {_env.sec(f['job_range7'])} "
           f"({f['job_7_singles'] / f['job_range7']:.1f}x faster)")

    connect.session().stop()
    connect.stop_server()  # a per-task-JVM deployment has no long-lived server beside it
    report("(d) the same job for one day as a fresh spark-submit process (Connect server stopped)")
    out = state / "submit"
    out.mkdir()
    args = ["--raw", storage.spark_uri("raw"), "--validated", storage.spark_uri("validated"), "--features", (out / "features").as_uri(),
            "--counts", (out / "features_counts").as_uri(), "--dates", FIRST]
    f["submit"] = spark_submit(_env.PROJECT_ROOT / "spark_jobs" / "build_features.py", args, out / "build_features.log")
    if "CONTRAIL_COUNTS" not in (out / "build_features.log").read_text():
        raise RuntimeError("spark-submit build_features.py printed no CONTRAIL_COUNTS line")
    report(f"  spark-submit build_features.py --dates {FIRST}: {_env.sec(f['submit'])}")
    noop = state / "noop_job.py"
    noop.write_text(NOOP_JOB)
    f["submit_noop"] = spark_submit(noop, [], out / "noop.log")
    report(f"  spark-submit of a no-op job (JVM + SparkSession + range(1).count()): {_env.sec(f['submit_noop'])}")
    return f


def summarize(f: dict, report) -> None:
    ing, feat, job_day = f["ingest_warm"], f["features_warm"], f["job_day"]
    overhead = max(feat - job_day, 0.0)  # Airflow's share of a features run: task start, XCom, publish
    connect_day = ing + feat
    cold_day = ing + overhead + f["submit"]  # the features task runs spark-submit instead of the warm job
    jvm = max(f["submit"] - job_day, 0.0)
    report()
    report("== Summary ==")
    report.table(["figure", "seconds"], [
        ["(a) Connect server cold start (port listening)", f"{f['cold_start']:.2f}"],
        ["(b) day 1 via Airflow: ingest / features", f"{f['day1'][0]:.2f} / {f['day1'][1]:.2f}"],
        ["(c) warm day via Airflow: ingest / features (median of 2)", f"{ing:.2f} / {feat:.2f}"],
        ["    of which Airflow around the features job (features - job)", f"{overhead:.2f}"],
        ["    ingest work alone, no Airflow (per day, source cached)", f"{f['ingest_work']:.2f}"],
        ["(d) one day as fresh spark-submit (features job)", f"{f['submit']:.2f}"],
        ["    no-op spark-submit (bare JVM + SparkSession)", f"{f['submit_noop']:.2f}"],
        ["(e) warm Connect job: one day (median of 7)", f"{job_day:.2f}"],
        ["    7 days: 7 one-day jobs / one range job", f"{f['job_7_singles']:.2f} / {f['job_range7']:.2f}"],
    ], right={1})
    report()
    report(f"A cold per-task-JVM day (warm ingest + Airflow around features + spark-submit): {_env.sec(cold_day)}")
    report(f"  JVM start-up and cold-JVM work (spark-submit - warm job): {_env.sec(jvm)} = {jvm / cold_day:.0%} of that day")
    report(f"  bare JVM + SparkSession alone (no-op spark-submit):       {_env.sec(f['submit_noop'])} = "
           f"{f['submit_noop'] / cold_day:.0%} of that day")
    report(f"A warm Connect day through Airflow: {_env.sec(connect_day)} ({cold_day / connect_day:.1f}x faster than per-task JVM)")
    report()
    runs7 = math.ceil(YEAR / 7)
    per_task = YEAR * cold_day
    per_day = f["cold_start"] + YEAR * connect_day
    ranged = f["cold_start"] + YEAR * ing + runs7 * (overhead + f["job_range7"])
    report(f"Projected {YEAR}-day backfill, run one after another (PROJECTIONS from the per-day figures above, not measured):")
    report.table(["path", "features part", "whole backfill", "vs per-task JVM"], [
        ["per-task spark-submit, one day per run", _env.duration(YEAR * (overhead + f["submit"])), _env.duration(per_task), "1.0x"],
        ["warm Connect, one-day feature jobs", _env.duration(YEAR * feat), _env.duration(per_day), f"{per_task / per_day:.1f}x"],
        [f"warm Connect, {runs7} range jobs of 7 days", _env.duration(runs7 * (overhead + f["job_range7"])),
         _env.duration(ranged), f"{per_task / ranged:.1f}x"],
    ], right={1, 2, 3})
    report(f"  ingestion stays one Airflow run per day in all three ({_env.duration(YEAR * ing)}); the Connect rows include "
           f"one server cold start; range jobs count one features run ({_env.sec(overhead)} of Airflow) per 7 days.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, lake, Airflow DB) for inspection")
    args = parser.parse_args(argv)
    state = _env.private_env("contrail-bench-day-", AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING")
    from contrail.spark import connect

    if connect.is_up():
        _env.remove(state)
        sys.exit(f"port {connect.port()} is in use: the cold start needs a free port (set CONTRAIL_BENCH_SPARK_PORT)")
    report = _env.Report("day_wall_time")
    report.header("One local day through Airflow, and its JVM start-up")
    report(f"private state dir {state}, Spark Connect port {connect.port()}")
    try:
        with _env.Timer() as total:
            figures = measure(state, report)
        summarize(figures, report)
        report(f"\nbenchmark wall time: {total.s:.0f} s")
    finally:
        connect.stop_server()  # only the server this run started: its pid file is in the private state dir
        if args.keep:
            print(f"kept {state}")
        else:
            _env.remove(state)
    report.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
