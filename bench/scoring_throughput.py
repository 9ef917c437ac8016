"""Batch scoring throughput through the Spark job against model.predict on the same rows in memory.

    .venv/bin/python bench/scoring_throughput.py [--runs 3] [--days 14]

Setup (untimed): real flights of 2013-01-01..(--days) landed and built into features through the
real gate and feature job, a model trained on them and registered in a private MLflow store.
Inputs: the last day and the last 7 days of those features at scale factor 1, and the same rows
repeated 10 times with small noise on the numeric inputs (scale factor 10), each written as its own
features dataset.

* Spark: spark_jobs/score_features.py over the warm local Spark Connect server (mlflow.pyfunc
  spark_udf, Arrow batches), reading the features and writing predictions, as the DAG runs it.
* in memory: the registered pipeline's predict_proba on the same rows already loaded as a pandas
  frame of the model's inputs (the NumPy-backed reference the issue asks for).

Throughput = rows / median wall time of --runs; ratio = Spark / in-memory, same run. Target: at
least 0.5x at scale factor 10.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

import _env

TARGET = 0.5


def build(days: list[dt.date]) -> None:
    from contrail import ingest
    from contrail.platforms import local
    from contrail.quality import tasks

    for day in days:
        ingest.land_many(list(ingest.TABLES), day)
    usable = tasks.check_raw([f"{d}" for d in days])
    local.run_job("build_features", usable)
    tasks.check_features(usable)


def scaled(frame, factor: int, seed: int = 3):
    import numpy as np
    import pandas as pd

    from contrail.training import model

    if factor == 1:
        return frame
    rng = np.random.default_rng(seed)
    copies = []
    for i in range(factor):
        copy = frame.copy()
        copy["flight"] = copy["flight"] + 10_000 * i
        for column in ("distance", "temp", "dewp", "humid", "wind_speed", "pressure"):
            if i:
                copy[column] = copy[column] * (1 + rng.normal(0, 0.01, len(copy)))
        copies.append(copy)
    out = pd.concat(copies, ignore_index=True)
    return out.astype({c: frame[c].dtype for c in model.FEATURES})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--days", type=int, default=14)
    args = parser.parse_args(argv)
    state = _env.private_env("contrail-bench-scoring-")
    report = _env.Report("scoring_throughput")
    report.header("Batch scoring: Spark job (spark_udf) against predict_proba in memory")
    from contrail import storage
    from contrail.platforms import local
    from contrail.registry import tracking
    from contrail.spark import connect
    from contrail.training import model, run, window

    rows_out = []
    try:
        days = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(args.days)]
        build(days)
        candidate = run.train(window.split([f"{d}" for d in days]), model_name="bench_delay")
        report(f"model: bench_delay v{candidate['version']} on {candidate['window']}, holdout ROC AUC "
               f"{candidate['metrics']['roc_auc']:.4f}")
        import mlflow

        pipeline = mlflow.sklearn.load_model(f"models:/bench_delay/{candidate['version']}")
        all_days = [f"{d}" for d in days]
        for factor in (1, 10):
            for label, batch in (("1 day", all_days[-1:]), ("7 days", all_days[-7:])):
                frame = scaled(window.load(batch), factor)
                relative = f"bench/sf{factor}-{label.replace(' ', '')}"
                for day in batch:
                    storage.write_parquet_atomically(frame[frame["dt"] == day].drop(columns=["dt"]),
                                                     storage.location(f"{relative}/features/dt={day}"))
                plan = json.dumps({candidate["version"]: {"days": batch, "threshold": 0.5}})
                argv = ["--features", storage.spark_uri(f"{relative}/features"), "--predictions",
                        storage.spark_uri(f"{relative}/predictions"), "--model-name", "bench_delay", "--plan", plan,
                        "--tracking-uri", tracking.tracking_uri()]
                local.run_argv("score_features", argv)  # warm-up: the workers load the model once
                spark_s, _ = _env.timed(lambda: local.run_argv("score_features", argv), args.runs)
                inputs = model.inputs(frame)
                memory_s, _ = _env.timed(lambda: pipeline.predict_proba(inputs), args.runs)
                rows_out.append([f"SF{factor}", label, len(frame), f"{len(frame) / spark_s:,.0f}", f"{spark_s:.2f} s",
                                 f"{len(frame) / memory_s:,.0f}", f"{spark_s / memory_s:.0f}x", f"{memory_s / spark_s:.3f}x"])
        report.table(["scale", "batch", "rows", "Spark rows/s", "Spark wall", "in-memory rows/s", "Spark slower by",
                      "ratio"], rows_out, right=set(range(2, 8)))
        report(f"\nratio = Spark throughput / in-memory predict_proba throughput (target >= {TARGET}x at SF10); "
               f"median of {args.runs} runs after one warm-up job")
    finally:
        connect.stop_server()
        _env.remove(state)
    report.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
