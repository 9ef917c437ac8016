"""The Spark side of a quality gate, for days too large for pandas: read with row ids, split, commit.

The same suite runs through GX's Spark data source; Spark rows have no index, so each row gets an
id column that GX reports for the rows it rejects. The split is written by Spark into a staging
folder and committed with the same swap as every other partition (`storage.commit_staged`).
"""

from __future__ import annotations

import datetime as dt

from contrail import datasets, storage
from contrail.quality.gx_engine import ROW_ID


def _spark():
    from contrail import platforms

    return platforms.spark_session()


def read_with_row_ids(uri: str):
    """The partition at `uri` with a stable ROW_ID column (checkpointed, so the ids never change)."""
    from pyspark.sql import functions as F

    try:
        frame = _spark().read.parquet(uri)
        frame.schema
    except Exception as exc:
        raise storage.StorageError(f"could not read {uri} with Spark: {str(exc).splitlines()[0]}") from exc
    return frame.withColumn(ROW_ID, F.monotonically_increasing_id()).localCheckpoint(eager=True)


def exact_copies(frame):
    """(`frame` keeping one copy of each row repeated in every column, the ROW_IDs of the extra copies).

    The copy kept is the one of lowest ROW_ID. Nulls equal nulls and NaN equals NaN, as in pandas; but pandas
    reads a float null as NaN, so a row with a null only there equals one with NaN on pandas, not on Spark.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql.types import MapType

    def value(field):  # by a quoted name (names may hold dots); maps do not group, their JSON does
        column = F.col("`" + field.name.replace("`", "``") + "`")
        return F.to_json(column) if isinstance(field.dataType, MapType) else column

    columns = [value(field) for field in frame.schema.fields if field.name != ROW_ID]
    copy = "_contrail_copy"
    ranked = frame.withColumn(copy, F.row_number().over(Window.partitionBy(*columns).orderBy(ROW_ID))).localCheckpoint(eager=True)
    extra = [row[ROW_ID] for row in ranked.where(F.col(copy) > 1).select(ROW_ID).collect()]
    return ranked.where(F.col(copy) == 1).drop(copy), extra


def coverage_input(frame):
    """The (origin, time_hour) columns as pandas: a day of weather is at most a few hundred rows."""
    return frame.select("origin", "time_hour").toPandas()


def split(frame, bad: dict, table: str, day: dt.date) -> tuple[int, int]:
    """Write the rows not in `bad` to validated/ and those in it, with their failed checks, to quarantine/."""
    from pyspark.sql import functions as F

    from contrail.quality.gate import FAILED_CHECKS

    spark = _spark()
    if bad:
        marks = spark.createDataFrame([(int(k), v) for k, v in bad.items()], f"{ROW_ID} long, {FAILED_CHECKS} string")
    else:
        marks = spark.createDataFrame([], f"{ROW_ID} long, {FAILED_CHECKS} string")
    joined = frame.join(F.broadcast(marks), ROW_ID, "left")
    clean = joined.where(F.col(FAILED_CHECKS).isNull()).drop(ROW_ID, FAILED_CHECKS)
    rejected = joined.where(F.col(FAILED_CHECKS).isNotNull()).drop(ROW_ID)
    passed = _commit(clean, storage.location(datasets.VALIDATED[table].partition(day)))
    quarantine = storage.location(datasets.QUARANTINE[table].partition(day))
    if not bad:
        storage.remove_partition(quarantine)
        return passed, 0
    return passed, _commit(rejected, quarantine)


def _commit(frame, dest) -> int:
    rows = frame.count()

    def write(staging) -> None:
        uri = storage.spark_uri(str(staging.path)[len(storage.root().path):].lstrip("/"))
        frame.coalesce(1).write.mode("overwrite").parquet(uri)

    storage.commit_staged(dest, write)
    return rows
