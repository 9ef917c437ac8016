"""Contrail features: run spark_jobs/build_features.py over the days that ingestion landed."""

from __future__ import annotations

from airflow.sdk import Param, chain, dag, task

from contrail import datasets, platforms
from contrail.dag_defaults import DEFAULT_ARGS, START_DATE, TAGS

RAW_FLIGHTS = datasets.asset(datasets.RAW_FLIGHTS)
FEATURES = datasets.asset(datasets.FEATURES)


@dag(
    dag_id="contrail_features",
    schedule=[RAW_FLIGHTS],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "spark", "features"],
    params={
        "start": Param(None, type=["null", "string"], format="date", description="first day (YYYY-MM-DD) of a manual run"),
        "end": Param(None, type=["null", "string"], format="date", description="last day, inclusive (default: start)"),
    },
)
def contrail_features():
    """
    ### Build features with Spark
    Joins each day's flights with the origin's weather at the scheduled hour (by UTC instant, so
    the autumn DST hour is not doubled) and with plane attributes, derives calendar, route, plane
    and weather features and the label *arrived 15+ minutes late*, and publishes
    `features/dt=YYYY-MM-DD/` by dynamic partition overwrite.

    * **When**: each time `contrail_ingest` lands flights. The run then builds every day whose raw
      flights are newer than its features (the lake decides, so no landed day is ever missed, even
      when events pile up while a run is busy), in one Spark job over all those days, which
      publishes exactly the same per-day partitions as one job per day. By hand: trigger with params
      `start` / `end` (those days are rebuilt whatever their state).
    * **Engine**: the profile's (`CONTRAIL_PROFILE`): locally a long-lived Spark Connect server.
    * **Run facts**: the features event lists every day's flights in, features, cancelled and
      diverted rows (in = features + cancelled + diverted, checked).
    """

    @task
    def resolve_days(*, params, dag_run, triggering_asset_events=None) -> list[str]:
        from airflow.sdk.exceptions import AirflowSkipException

        from contrail.runs import event_extras, iso, requested_days, run_day

        if event_extras(triggering_asset_events, RAW_FLIGHTS) and not (params.get("start") or params.get("end")):
            from contrail.features import stale_days

            days = stale_days()
            if not days:
                raise AirflowSkipException("the features of every landed day are newer than its flights")
            return days
        return iso(requested_days(params, run_day(dag_run)))

    @task(outlets=[FEATURES])
    def publish_features(days: list[str], *, outlet_events) -> dict:
        from contrail.features import published_counts

        counts = published_counts(days)
        outlet_events[FEATURES].extra = {"days": days, "counts": counts}
        return counts

    days = resolve_days()
    chain(days, platforms.spark_step("build_features", days), publish_features(days))


contrail_features()
