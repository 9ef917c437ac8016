"""Contrail landing watcher: a new labelled-data drop in the landing zone is landed, built and retrained on."""

from __future__ import annotations

from airflow.sdk import chain, dag, task

from contrail import datasets, platforms
from contrail.dag_defaults import dag_kwargs

RAW_FLIGHTS = datasets.asset(datasets.RAW_FLIGHTS)
RAW_WEATHER = datasets.asset(datasets.RAW_WEATHER)


@dag(
    dag_id="contrail_landing",
    schedule="@continuous",
    **dag_kwargs("sensor", "landing", "training"),
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
    2. **convert_drops**: the profile's managed conversion of the drop's CSV files into Parquet,
       when `CONTRAIL_LANDING_CONVERTER` asks for one (AWS: a Glue job); otherwise nothing to do.
    3. **land_drops**: lands each ready day into `raw/` (atomically, like `contrail_ingest`), moves
       its marker to `_done/` with the landing facts, and emits `raw/flights` and `raw/weather`
       asset events marked `retrain`. Data-aware scheduling does the rest, without this DAG waiting:
       `contrail_features` builds the landed days and passes the mark on its `features` event, and
       `contrail_training` then retrains as soon as one new usable day exists (its promotion gate
       still decides). The watcher is free for the next drop at once.

    Paused at creation like every DAG: unpause it to start watching.
    """

    @task(outlets=[RAW_FLIGHTS, RAW_WEATHER])
    def land_drops(*, outlet_events) -> list[str]:
        from airflow.sdk.exceptions import AirflowSkipException

        from contrail import drops

        landed = drops.land_ready()
        if not landed:
            raise AirflowSkipException("the marker went away before landing (landed by an earlier run)")
        for drop in landed:
            print(f"landed drop {drop['dt']}: {drop['tables']}")
        days = [d["dt"] for d in landed]
        for asset in (RAW_FLIGHTS, RAW_WEATHER):
            outlet_events[asset].extra = {"days": days, "source": "landing", "retrain": True}
        return days

    chain(*platforms.landing_steps(), land_drops())


contrail_landing()
