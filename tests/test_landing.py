"""The landing watcher: the deferrable sensor fires on a new drop marker and not before; drops land once."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from pathlib import Path

import pytest

from contrail import drops, storage
from contrail.sources.nycflights13 import Nycflights13Source

DAY = "2013-10-15"


def landing() -> Path:
    return Path(os.environ["CONTRAIL_LANDING_URL"])


def drop(day: str, marker: bool = True) -> dict:
    """Write a real day's flights and weather as CSV into the landing zone, then (optionally) its marker."""
    source, date = Nycflights13Source(), dt.date.fromisoformat(day)
    rows = {}
    for table, frame in (("flights", source.flights(date)), ("weather", source.weather(date))):
        folder = landing() / table / f"dt={day}"
        folder.mkdir(parents=True, exist_ok=True)
        frame.to_csv(folder / "part-0.csv", index=False)
        rows[table] = len(frame)
    if marker:
        (landing() / "_ready").mkdir(parents=True, exist_ok=True)
        (landing() / "_ready" / f"{day}.json").write_text("{}")
    return rows


async def next_event(trigger, timeout: float):
    run = trigger.run()
    try:
        return await asyncio.wait_for(run.__anext__(), timeout)
    finally:
        await run.aclose()


def deferred_trigger(sensor):
    """Execute the sensor as a worker would: it pokes once, finds nothing and defers; its trigger, polling fast."""
    from airflow.sdk.exceptions import TaskDeferred

    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context={})
    trigger = deferred.value.trigger
    trigger.poke_interval = 0.2
    return trigger


def assert_no_event(trigger, seconds: float) -> None:
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(next_event(trigger, seconds))


def test_the_sensor_defers_and_its_trigger_fires_on_a_new_marker_and_not_before(dagbag):
    from airflow.providers.standard.sensors.filesystem import FileSensor

    sensor = dagbag.get_dag("contrail_landing").get_task("wait_for_drop")
    assert isinstance(sensor, FileSensor) and sensor.deferrable  # waits in the triggerer, not a worker slot
    (landing() / "_ready").mkdir(parents=True, exist_ok=True)
    for stale in (landing() / "_ready").glob("*.json"):
        stale.unlink()
    trigger = deferred_trigger(sensor)
    assert_no_event(trigger, 2.0)  # nothing dropped yet: no event
    (landing() / "_ready" / "not-a-marker.txt").write_text("x")
    assert_no_event(trigger, 1.0)  # only *.json markers count
    (landing() / "_ready" / f"{DAY}.json").write_text("{}")
    assert asyncio.run(next_event(trigger, 5.0)).payload is True
    (landing() / "_ready" / f"{DAY}.json").unlink()
    (landing() / "_ready" / "not-a-marker.txt").unlink()


def test_a_ready_drop_lands_once_and_its_marker_moves_to_done():
    rows = drop(DAY)
    landed = drops.land_ready()
    assert landed == [{"dt": DAY, "tables": rows}]
    assert storage.parquet_rows(storage.location(f"raw/flights/dt={DAY}")) == rows["flights"]
    assert storage.parquet_rows(storage.location(f"raw/weather/dt={DAY}")) == rows["weather"]
    assert not (landing() / "_ready" / f"{DAY}.json").exists() and (landing() / "_done" / f"{DAY}.json").exists()
    assert drops.land_ready() == []  # the same drop is not landed twice


def test_a_drop_without_its_marker_is_not_landed_yet():
    drop("2013-10-16", marker=False)
    assert drops.ready_days() == [] or "2013-10-16" not in drops.ready_days()
    assert not storage.location("raw/flights/dt=2013-10-16").exists()


def test_bad_markers_are_named_and_set_aside_after_the_good_drops_land():
    rows = drop("2013-10-18")
    ready = landing() / "_ready"
    (ready / "2014-01-01.json").write_text("{}")
    (ready / "notes.txt").write_text("not a marker")
    with pytest.raises(drops.BadMarkers, match="2 object.*2014-01-01.json: name it YYYY-MM-DD.json for a 2013 day"
                       ".*notes.txt.*not a .json marker.*landed first: 2013-10-18"):
        drops.land_ready()
    assert storage.parquet_rows(storage.location("raw/flights/dt=2013-10-18")) == rows["flights"]
    assert sorted(p.name for p in ready.iterdir()) == []  # the watcher has nothing left to fire on
    rejected = landing() / "_rejected"
    assert (rejected / "notes.txt").read_text() == "not a marker"  # nothing lost
    assert "2013 day" in (rejected / "2014-01-01.json.why.txt").read_text()
    assert drops.land_ready() == []


def test_a_drop_landed_through_airflow_emits_raw_events_that_schedule_the_features(dagbag, unpaused):
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    dag = dagbag.get_dag("contrail_landing")
    assert [t.task_id for t in dag.topological_sort()] == ["wait_for_drop", "convert_drops", "land_drops"]
    assert type(dag.timetable).__name__ == "ContinuousTimetable"
    rows = drop("2013-10-20")
    with unpaused("contrail_features"):
        dag_run = dag.test()  # the marker is there: the sensor's first poke succeeds
    assert {ti.task_id: ti.state for ti in dag_run.get_task_instances()} == {
        "wait_for_drop": "success", "convert_drops": "success", "land_drops": "success"}  # nothing to convert locally
    assert storage.parquet_rows(storage.location("raw/flights/dt=2013-10-20")) == rows["flights"]
    with create_session() as session:
        events = session.execute(select(AssetModel.name, AssetEvent.extra).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                                 .where(AssetEvent.source_run_id == dag_run.run_id)).all()
        queued = session.scalars(select(AssetDagRunQueue.target_dag_id)).all()
    assert {name for name, _ in events} == {"raw_flights", "raw_weather"}
    assert all(extra == {"days": ["2013-10-20"], "source": "landing", "retrain": True} for _, extra in events)
    assert "contrail_features" in queued  # features (then training, on the retrain mark) follow by data-aware scheduling


def test_the_retrain_mark_travels_from_the_raw_event_through_features_to_training(dagbag, monkeypatch):
    """The task bodies the scheduler runs, given the triggering events it would pass."""
    from types import SimpleNamespace

    from contrail import datasets
    from contrail.training import tasks

    raw, features = datasets.asset(datasets.RAW_FLIGHTS), datasets.asset(datasets.FEATURES)
    publish = dagbag.get_dag("contrail_features").get_task("publish_features").python_callable
    monkeypatch.setattr("contrail.features.published_counts", lambda days: {d: {"features": 1} for d in days})

    def published(raw_extra: dict) -> dict:
        outlet = {features: SimpleNamespace(extra=None)}
        plan = SimpleNamespace(xcom_pull=lambda task_ids, key: {"usd": 0.25} if (task_ids, key) == ("build_features.plan", "cost") else None)
        publish(["2013-10-20"], outlet_events=outlet, ti=plan, triggering_asset_events={raw: [SimpleNamespace(extra=raw_extra)]})
        return outlet[features].extra

    marked, nightly = published({"days": ["2013-10-20"], "retrain": True}), published({"rows": 900})
    assert marked["retrain"] is True and "retrain" not in nightly and nightly["days"] == ["2013-10-20"]
    assert nightly["cost_usd"] == 0.25  # the build step's estimate rides on the event

    seen = []
    monkeypatch.setattr(tasks, "resolve_window", lambda params, name, drop_days: seen.append(drop_days) or {})
    resolve = dagbag.get_dag("contrail_training").get_task("resolve_window").python_callable
    for extra in (marked, nightly):
        resolve(params={}, triggering_asset_events={features: [SimpleNamespace(extra=extra)]})
    assert seen == [["2013-10-20"], []]  # a drop trains on the window ending on its day at once; the policy decides the rest
