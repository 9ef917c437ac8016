"""Score feature partitions with registered MLflow models: predictions/dt=YYYY-MM-DD/ for a range of days.

spark-submit-able as it is (local Spark, EMR, Dataproc, HDInsight: mlflow and the model's libraries
must be on the executors), and callable in-process with a given SparkSession (the local profile's
Spark Connect server):

    spark-submit score_features.py --features s3://lake/features --predictions s3://lake/predictions \
        --model-name flights_delay --tracking-uri http://mlflow:5000 \
        --plan '{"3": {"days": ["2013-01-01", "2013-01-02"], "threshold": 0.31}}'

`--plan` says which registered version scores which days, with its operating threshold (a backfill
reproduces the model that first scored each day). The model runs in Arrow batches through
mlflow.pyfunc.spark_udf (its pyfunc returns the class probabilities; the job keeps P(late)). The
model's input columns come from its signature. Every row carries the model name and version; each
day's partition is replaced whole (`publish`), so a re-run replaces, never duplicates.
The job's result is the lake itself: the predictions partitions, checked row for row against the
features before the job ends.
"""

from __future__ import annotations

import argparse
import json
import sys

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

KEYS = ["dt", "carrier", "flight", "origin", "dest", "sched_dep_time", "time_hour"]
# carried from each features row onto its prediction: the label, the delay, and the `degraded` mark (what the row lacks)
CARRIED = ["label", "arr_delay", "degraded"]


def model_inputs(model_uri: str) -> list[tuple[str, str]]:
    """(column, MLflow type) of each input of the model's signature."""
    from mlflow.models import get_model_info

    signature = get_model_info(model_uri).signature
    if signature is None:
        raise ValueError(f"model {model_uri} has no signature: cannot tell which columns it reads")
    return [(spec.name, spec.type.name) for spec in signature.inputs.inputs]


def score(features: DataFrame, udf, inputs: list[tuple[str, str]], name: str, version: str, threshold: float) -> DataFrame:
    """Add probability, predicted_late and the model's identity to every row (pure: no I/O)."""
    typed = [F.col(c).cast("double").alias(c) if kind == "double" else F.col(c) for c, kind in inputs]
    probability = udf(F.struct(*typed)).getItem(1)
    return (features.withColumn("probability", probability)
            .withColumn("predicted_late", (F.col("probability") >= F.lit(threshold)).cast("int"))
            .withColumn("model_name", F.lit(name)).withColumn("model_version", F.lit(str(version)))
            .select(*KEYS, *CARRIED, *[c for c, _ in inputs if c not in KEYS], "probability",
                    "predicted_late", "model_name", "model_version"))


def publish(frame: DataFrame, root: str, days: list[str]) -> None:
    """Replace the `dt=` partitions of `days` at `root`: a local lake swaps each day in whole (spark_jobs/lake.py,
    beside this file there); a cluster, given this file alone, uses Spark's dynamic partition overwrite."""
    if root.startswith("file:"):
        from spark_jobs.lake import publish_local

        return publish_local(frame, root, days)
    frame.write.mode("overwrite").option("partitionOverwriteMode", "dynamic").partitionBy("dt").parquet(root)


def run(spark: SparkSession, features: str, predictions: str, model_uri: str, name: str, version: str,
        threshold: float, dates: list[str]) -> dict[str, int]:
    import mlflow

    paths = [f"{features}/dt={d}" for d in dates]
    try:
        frame = spark.read.option("basePath", features).parquet(*paths).withColumn("dt", F.col("dt").cast("string"))
        frame.schema
    except Exception as exc:
        raise FileNotFoundError(f"missing features partition among {', '.join(paths)}: {str(exc).splitlines()[0]}") from None
    # features built before the mark existed hold no `degraded` column: they say nothing about what they lacked
    frame = frame.withColumn("degraded", F.coalesce(F.col("degraded"), F.lit(""))) if "degraded" in frame.columns \
        else frame.withColumn("degraded", F.lit(""))
    udf = mlflow.pyfunc.spark_udf(spark, model_uri, env_manager="local", result_type="array<double>")
    scored = score(frame, udf, model_inputs(model_uri), name, version, threshold)
    publish(scored.repartition("dt").sortWithinPartitions("origin", "sched_dep_time", "carrier", "flight"), predictions, dates)
    written = (spark.read.parquet(predictions).withColumn("dt", F.col("dt").cast("string"))
               .where(F.col("dt").isin(dates)).groupBy("dt").count().collect())
    expected = {r["dt"]: r["count"] for r in frame.groupBy("dt").count().collect()}
    result = {r["dt"]: int(r["count"]) for r in written}
    if result != expected:
        raise RuntimeError(f"predictions do not match features row for row: features {expected}, predictions {result}")
    return result


def parse_plan(text: str) -> dict[str, dict]:
    """`--plan`: version -> {"days": [...], "threshold": t}, each day under one version only."""
    try:
        plan = json.loads(text)
        seen = [d for group in plan.values() for d in group["days"]]
        thresholds = {v: float(group["threshold"]) for v, group in plan.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"--plan must map model versions to {{'days': [...], 'threshold': t}}: {exc}") from None
    if len(seen) != len(set(seen)) or not seen:
        raise ValueError(f"--plan must name each day once, under one model version: {text[:200]}")
    return {str(v): {"days": list(plan[v]["days"]), "threshold": thresholds[v]} for v in plan}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("--features", "--predictions", "--model-name", "--plan"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, spark: SparkSession | None = None) -> dict[str, int]:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    plan = parse_plan(args.plan)
    if args.tracking_uri:
        import mlflow

        mlflow.set_tracking_uri(args.tracking_uri)
    spark = spark or SparkSession.builder.appName("contrail-score-features").getOrCreate()
    result = {}
    for version, group in plan.items():
        result.update(run(spark, args.features.rstrip("/"), args.predictions.rstrip("/"), f"models:/{args.model_name}/{version}",
                          args.model_name, version, group["threshold"], group["days"]))
    print("CONTRAIL_SCORED " + json.dumps(result, sort_keys=True))
    return result


if __name__ == "__main__":
    main()
