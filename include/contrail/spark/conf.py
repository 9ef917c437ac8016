"""Spark settings every Contrail job relies on, wherever it runs (the local Connect server, EMR, Dataproc, HDInsight)."""

JOB_CONF = {
    # partition folders dt=YYYY-MM-DD read back as text, the same as they were written
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
    "spark.sql.shuffle.partitions": "4",
    # LightGBM's OpenMP threads spin while they wait unless told otherwise (scoring in Python workers)
    "spark.executorEnv.OMP_WAIT_POLICY": "PASSIVE",
}


def submit_args(conf: dict[str, str] | None = None) -> list[str]:
    """`--conf key=value` arguments of spark-submit for JOB_CONF (and `conf` on top)."""
    return [arg for key, value in {**JOB_CONF, **(conf or {})}.items() for arg in ("--conf", f"{key}={value}")]
