"""Contrail features: quality-gate the landed days, run spark_jobs/build_features.py, gate the features."""

from __future__ import annotations

from airflow.sdk import Param, chain, dag, task

from contrail import datasets, platforms
from contrail.dag_defaults import dag_kwargs

RAW_FLIGHTS = datasets.asset(datasets.RAW_FLIGHTS)
FEATURES = datasets.asset(datasets.FEATURES)


@dag(
    dag_id="contrail_features",
    schedule=[RAW_FLIGHTS],
    **dag_kwargs("spark", "features", "quality"),
    params={
        "start": Param(None, type=["null", "string"], format="date", description="first day (YYYY-MM-DD) of a manual run"),
        "end": Param(None, type=["null", "string"], format="date", description="last day, inclusive (default: start)"),
        "days": Param(None, type=["null", "array"], items={"type": "string", "format": "date"},
                      description="or: these days (a landing drop)"),
    },
)
def contrail_features():
    """
    ### Quality gates and features with Spark
    1. **check_raw**: the Great Expectations suites of raw flights and weather for each day
       (`include/contrail/quality/`). Rows failing a row-level check go to
       `quarantine/<table>/dt=…/` with the checks they failed; the rest to `validated/<table>/dt=…/`
       (rows in = passed + quarantined, checked). A critical failure of flights keeps that day
       out of everything downstream; of weather (auxiliary), the day is built without it and
       marked *degraded* (scored with the mark, shown not judged, left out of training).
    2. **build_features** (the profile's Spark: locally the Spark Connect server, on AWS an EMR
       step on an ephemeral cluster torn down even when the step fails): joins each day's
       validated flights with the origin's weather at the scheduled hour (by UTC instant) and with
       plane attributes, derives the features and the label *arrived 15+ minutes late*, and
       publishes `features/dt=YYYY-MM-DD/` and the day's counts, which the next task reads back.
    3. **check_features**: model inputs complete, label share within bounds, row count = raw −
       quarantined − cancelled − diverted.
    4. **quality_verdict**: fails the run, naming the days and checks, if any day failed a gate
       (the other days are published all the same), and naming the task if any task of the run
       failed: it runs whatever happened upstream, and a run ends as its last task does.

    Reports: `reports/quality/<table>/dt=…/result.json` and Data Docs under
    `reports/quality/docs/`; each gate logs a one-line summary with the report's address.

    * **When**: each time `contrail_ingest` lands flights. The run builds every day whose raw
      flights are newer than its features (the lake decides, so no landed day is missed, even when
      events pile up while a run is busy), in one Spark job over all those days. By hand: params
      `start` / `end`, or `days` (a list): those days are re-gated
      and rebuilt whatever their state.
    * **Engine**: the profile's (`CONTRAIL_PROFILE`): locally a long-lived Spark Connect server.
      The step's `plan` task logs the requests and the estimated cost, and refuses a cost over
      `CONTRAIL_BUDGET_USD` before anything starts.
    """

    @task
    def resolve_days(*, params, dag_run, triggering_asset_events=None) -> list[str]:
        from airflow.sdk.exceptions import AirflowSkipException

        from contrail.runs import by_hand, event_extras, iso, requested_days, run_day

        if by_hand(params):  # params days, or start/end: checked dates only
            return iso(requested_days(params, None))
        if event_extras(triggering_asset_events, RAW_FLIGHTS):
            from contrail.features import stale_days

            days = stale_days()
            if not days:
                raise AirflowSkipException("the features of every landed day are newer than its flights")
            return days
        return iso(requested_days(params, run_day(dag_run)))

    @task
    def check_raw(days: list[str]) -> list[str]:
        from contrail.quality import tasks

        return tasks.check_raw(days)

    @task
    def check_features(days: list[str]) -> list[str]:
        from contrail.quality import tasks

        return tasks.check_features(days)

    @task(outlets=[FEATURES])
    def publish_features(days: list[str], *, outlet_events, ti, triggering_asset_events=None) -> dict:
        from contrail.features import published_counts
        from contrail.runs import event_extras

        counts = published_counts(days)
        cost = ti.xcom_pull(task_ids="build_features.plan", key="cost") or {}
        # a labelled-data drop (contrail_landing) asks training to retrain on it: pass the mark on
        retrain = any(e.get("retrain") for e in event_extras(triggering_asset_events, RAW_FLIGHTS))
        outlet_events[FEATURES].extra = {"days": days, "counts": counts, "cost_usd": cost.get("usd"),
                                         **({"retrain": True} if retrain else {})}
        return counts

    @task(trigger_rule="all_done")
    def quality_verdict(days: list[str] | None, *, ti, dag_run) -> None:
        from contrail.quality import tasks
        from contrail.runs import failed_tasks

        tasks.verdict(days or [], failed_tasks(ti, dag_run))

    days = resolve_days()
    usable = check_raw(days)
    built = platforms.spark_step("build_features", usable)
    checked = check_features(usable)
    chain(usable, built, checked, publish_features(checked), quality_verdict(days))


contrail_features()
