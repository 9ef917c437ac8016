"""Contrail landing watcher: a new labelled-data drop in the landing zone is landed, built and retrained on."""

from __future__ import annotations

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import chain, dag, task

from contrail.dag_defaults import DEFAULT_ARGS, START_DATE, TAGS
from contrail.platforms.landing import drop_sensor


@dag(
    dag_id="contrail_landing",
    schedule="@continuous",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "sensor", "landing", "training"],
)
def contrail_landing():
    """
    ### Watch the landing zone for labelled-data drops
    Upstream writes `flights/dt=YYYY-MM-DD/` and `weather/dt=YYYY-MM-DD/` files into the landing
    zone (`CONTRAIL_LANDING_URL`; local default `landing/`), then the marker `_ready/YYYY-MM-DD.json`.

    1. **wait_for_drop**: a *deferrable* sensor (local: `FileSensor`; S3: `S3KeySensor`; GCS:
       `GCSObjectsWithPrefixExistenceSensor`; Blob: `WasbPrefixSensor`) on `_ready/*.json`. It
       waits in the triggerer, holding no worker slot; after an hour without a drop it is skipped
       and the next run (`@continuous`) waits again.
    2. **land_drops**: lands each ready day into `raw/` (atomically, like `contrail_ingest`) and
       moves its marker to `_done/` with the landing facts.
    3. **build_features**: runs `contrail_features` for exactly those days and waits (deferred).
    4. **retrain**: starts `contrail_training`, which retrains on the latest window as soon as one
       new usable day exists (its promotion gate still decides).

    Paused at creation like every DAG: unpause it to start watching.
    """

    @task
    def land_drops() -> list[str]:
        from airflow.sdk.exceptions import AirflowSkipException

        from contrail import drops

        landed = drops.land_ready()
        if not landed:
            raise AirflowSkipException("the marker went away before landing (landed by an earlier run)")
        for drop in landed:
            print(f"landed drop {drop['dt']}: {drop['tables']}")
        return [d["dt"] for d in landed]

    days = land_drops()
    features = TriggerDagRunOperator(task_id="build_features", trigger_dag_id="contrail_features",
                                     conf={"days": days}, wait_for_completion=True, deferrable=True, poke_interval=15)
    retrain = TriggerDagRunOperator(task_id="retrain", trigger_dag_id="contrail_training",
                                    conf={"min_new_days": 1}, wait_for_completion=False)
    chain(drop_sensor("wait_for_drop"), days, features, retrain)


contrail_landing()
