"""Build model features for a range of days: flights x origin weather at the scheduled hour x planes.

spark-submit-able as it is (local Spark, EMR, Dataproc, HDInsight), and callable in-process with a
given SparkSession (the local profile's long-lived Spark Connect server):

    spark-submit build_features.py --raw file:///lake/raw --validated file:///lake/validated \
        --features file:///lake/features --counts file:///lake/features_counts --dates 2013-01-01,2013-01-02

Flights and weather are read from the validated zone (the rows that passed their quality gate),
planes from the raw zone. Weather and planes are auxiliary: a flight without its weather hour or its
plane keeps its row, with nulls, and its `degraded` column names what it lacks ("weather", "plane",
comma-separated; "" when complete). A day whose weather failed its gate has an empty validated
weather partition, so every one of its flights says "weather".

Each day's partition features/dt=YYYY-MM-DD/ is replaced whole (`publish`), so a job over a range of
days publishes exactly the partitions that one job per day would have, and a reader sees a day's old
partition or its new one, never neither and never half.
"""

from __future__ import annotations

import argparse
import json
import sys

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

LATE_MINUTES = 15
WEATHER_COLUMNS = ["temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib"]
DEGRADED = "degraded"  # the row-level mark (contrail.quality.degraded reads it; this file stands alone on a cluster)
KEY_COLUMNS = ["dt", "year", "month", "day", "carrier", "flight", "tailnum", "origin", "dest", "sched_dep_time", "time_hour"]
FEATURE_COLUMNS = [
    "hour", "minute", "weekday", "month", "day_of_year", "carrier", "origin", "dest", "distance",
    "plane_age", "seats", "engines", *WEATHER_COLUMNS,
]


def with_day(flights: DataFrame) -> DataFrame:
    """Add dt (YYYY-MM-DD of the scheduled local departure day), cancelled and diverted flags."""
    day = F.make_date("year", "month", "day")
    return (
        flights.withColumn("dt", F.date_format(day, "yyyy-MM-dd"))
        .withColumn("cancelled", F.col("dep_time").isNull())
        .withColumn("diverted", F.col("dep_time").isNotNull() & F.col("arr_delay").isNull())
    )


def join_weather(flights: DataFrame, weather: DataFrame) -> DataFrame:
    """Left-join each flight with its origin's weather at the scheduled hour.

    The join is on the UTC instant (time_hour), not on the local hour: on the autumn DST change the
    local hour 1 happens twice, and a local-hour join would duplicate those flights.
    """
    hourly = (weather.select("dt", "origin", "time_hour", *WEATHER_COLUMNS, F.lit(True).alias("_has_weather"))
              .dropDuplicates(["dt", "origin", "time_hour"]))
    return flights.join(hourly, on=["dt", "origin", "time_hour"], how="left")


def join_planes(flights: DataFrame, planes: DataFrame) -> DataFrame:
    """Left-join plane attributes by tail number; a missing plane leaves nulls, never drops the flight."""
    attrs = planes.select(
        "dt", "tailnum", F.col("year").alias("plane_year"), "seats", "engines", F.lit(True).alias("_has_plane")
    ).dropDuplicates(["dt", "tailnum"])
    joined = flights.join(attrs, on=["dt", "tailnum"], how="left")
    return joined.withColumn("plane_age", (F.col("year") - F.col("plane_year")).cast("double")).drop("plane_year")


def derive_features(joined: DataFrame) -> DataFrame:
    """Calendar features, typed model inputs, the label (arrival 15+ minutes late) and the `degraded` mark for
    labelled flights (the joins' `_has_weather` / `_has_plane` markers say which auxiliary rows were found)."""
    day = F.make_date("year", "month", "day")
    out = (
        joined.withColumn("weekday", F.dayofweek(day))
        .withColumn("day_of_year", F.dayofyear(day))
        .withColumn("distance", F.col("distance").cast("double"))
        .withColumn("seats", F.col("seats").cast("double"))
        .withColumn("engines", F.col("engines").cast("double"))
        .withColumn("label", (F.col("arr_delay") >= LATE_MINUTES).cast("int"))
        .withColumn(DEGRADED, F.concat_ws(",", F.when(F.col("_has_weather").isNull(), F.lit("weather")),
                                          F.when(F.col("_has_plane").isNull(), F.lit("plane"))))
    )
    for name in WEATHER_COLUMNS:
        out = out.withColumn(name, F.col(name).cast("double"))
    labelled = out.where(~F.col("cancelled") & ~F.col("diverted"))
    return labelled.select(*KEY_COLUMNS, *[c for c in FEATURE_COLUMNS if c not in KEY_COLUMNS], "arr_delay", "label", DEGRADED)


def build(flights: DataFrame, weather: DataFrame, planes: DataFrame) -> DataFrame:
    """The whole transform: raw tables (each with a dt column) to the features table."""
    return derive_features(join_planes(join_weather(with_day(flights), weather), planes))


def partition_counts(flights: DataFrame, features: DataFrame) -> DataFrame:
    """Per day: flights in, features written, cancelled and diverted (in = features + cancelled + diverted)."""
    flagged = with_day(flights)
    source = flagged.groupBy("dt").agg(
        F.count(F.lit(1)).alias("flights_in"),
        F.sum(F.col("cancelled").cast("long")).alias("cancelled"),
        F.sum(F.col("diverted").cast("long")).alias("diverted"),
    )
    written = features.groupBy("dt").agg(F.count(F.lit(1)).alias("features"))
    return source.join(written, "dt", "left").fillna(0, ["features"])


def _read_days(spark: SparkSession, root: str, dates: list[str], table: str) -> DataFrame:
    paths = [f"{root}/{table}/dt={d}" for d in dates]
    try:
        frame = spark.read.option("basePath", f"{root}/{table}").parquet(*paths)
        frame.schema  # resolves the paths now, so a missing partition fails here with its name
    except Exception as exc:
        text = str(exc)
        if "PATH_NOT_FOUND" in text or "does not exist" in text.lower() or "UNABLE_TO_INFER_SCHEMA" in text:
            missing = next((p for p in paths if p in text), ", ".join(paths))  # gone, or a folder without Parquet
            raise FileNotFoundError(f"missing partition for {table}: {missing} (run ingestion and its quality gate for that date first)") from None
        raise RuntimeError(f"could not read {table} at {root}/{table} for {', '.join(dates)}: {text.splitlines()[0]}") from exc
    # dt comes from the folder name; cast it to text so partitions read back as they were written
    return frame.withColumn("dt", F.col("dt").cast("string"))


def publish(frame: DataFrame, root: str, days: list[str]) -> None:
    """Replace the `dt=` partitions of `days` at `root`: a local lake swaps each day in whole (spark_jobs/lake.py,
    beside this file there); a cluster, given this file alone, uses Spark's dynamic partition overwrite."""
    if root.startswith("file:"):
        from spark_jobs.lake import publish_local

        return publish_local(frame, root, days)
    frame.write.mode("overwrite").option("partitionOverwriteMode", "dynamic").partitionBy("dt").parquet(root)


def run(spark: SparkSession, raw: str, validated: str, features: str, counts: str, dates: list[str]) -> dict[str, dict]:
    """Build and publish the features of `dates`; return each day's counts."""
    flights = _read_days(spark, validated, dates, "flights").drop("dt")
    table = build(flights, _read_days(spark, validated, dates, "weather"), _read_days(spark, raw, dates, "planes"))
    publish(table.repartition("dt").sortWithinPartitions("origin", "sched_dep_time", "carrier", "flight"), features, dates)
    per_day = partition_counts(flights, spark.read.parquet(features).where(F.col("dt").cast("string").isin(dates))
                               .withColumn("dt", F.col("dt").cast("string")))
    publish(per_day.repartition("dt"), counts, dates)
    result = {r["dt"]: {k: int(r[k]) for k in ("flights_in", "features", "cancelled", "diverted")} for r in per_day.collect()}
    check_counts(result, dates)
    return result


def check_counts(result: dict[str, dict], dates: list[str]) -> None:
    """Fail loudly if a day is missing or rows were lost or duplicated between raw and features."""
    for d in dates:
        c = result.get(d)
        if c is None:
            raise RuntimeError(f"no flights read for {d}: validated/flights/dt={d} is empty")
        if c["flights_in"] != c["features"] + c["cancelled"] + c["diverted"]:
            raise RuntimeError(f"row count mismatch for {d}: {c} (flights_in must equal features + cancelled + diverted)")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", required=True, help="URI of the raw zone (holds planes/)")
    parser.add_argument("--validated", required=True, help="URI of the validated zone (holds flights/, weather/)")
    parser.add_argument("--features", required=True, help="URI of the features dataset")
    parser.add_argument("--counts", required=True, help="URI of the per-day counts dataset")
    parser.add_argument("--dates", required=True, help="comma-separated YYYY-MM-DD days")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, spark: SparkSession | None = None) -> dict[str, dict]:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    spark = spark or SparkSession.builder.appName("contrail-build-features").getOrCreate()
    roots = (args.raw, args.validated, args.features, args.counts)
    result = run(spark, *(r.rstrip("/") for r in roots), args.dates.split(","))
    print("CONTRAIL_COUNTS " + json.dumps(result, sort_keys=True))
    return result


if __name__ == "__main__":
    main()
