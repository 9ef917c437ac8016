"""The landing watcher on the gcp profile, against a GCS emulator (gcp-storage-emulator): the sensor's own
trigger fires on a marker in the bucket and not before, a drop in the bucket lands once in a GCS lake, and a
stray object in the marker folder is set aside under `_rejected/`."""

from __future__ import annotations

import asyncio
import datetime as dt
import io

import pytest
from contrail import drops, storage
from contrail.platforms import landing as landing_sensor
from contrail.sources.nycflights13 import Nycflights13Source
from test_landing import assert_no_event, deferred_trigger, next_event

DAY = "2013-10-21"


@pytest.fixture
def gcs_landing(gcs_lake, monkeypatch):
    hook, bucket = gcs_lake
    monkeypatch.setenv("CONTRAIL_LANDING_URL", f"gs://{bucket}/landing")
    return hook, bucket


def put(hook, bucket: str, name: str, data: bytes) -> None:
    hook.upload(bucket_name=bucket, object_name=name, data=data)


def test_the_gcs_sensor_defers_and_its_trigger_fires_on_a_marker_in_the_bucket(gcs_landing):
    from airflow.providers.google.cloud.sensors.gcs import (
        GCSObjectsWithPrefixExistenceSensor,
    )

    hook, bucket = gcs_landing
    sensor = landing_sensor.drop_sensor("wait_for_drop")
    assert sensor.operator_name == "GCSObjectsWithPrefixExistenceSensor"  # built when the task runs
    sensor.render_template_fields({})
    inner = sensor.provider_operator()
    assert isinstance(inner, GCSObjectsWithPrefixExistenceSensor) and inner.deferrable
    assert (inner.bucket, inner.prefix, inner.google_cloud_conn_id) == (bucket, "landing/_ready/", "lake_gcs")
    trigger = deferred_trigger(sensor)  # its first poke lists the empty bucket, then it defers
    assert_no_event(trigger, 2.0)  # nothing dropped yet
    put(hook, bucket, f"landing/flights/dt={DAY}/part-0.csv", b"a,b\n")
    assert_no_event(trigger, 1.5)  # data without its marker: not ready
    put(hook, bucket, f"landing/_ready/{DAY}.json", b"{}")
    event = asyncio.run(next_event(trigger, 10.0))
    assert event.payload["status"] == "success" and event.payload["matches"] == [f"landing/_ready/{DAY}.json"]
    assert inner.execute_complete(context={}, event=event.payload) == [f"landing/_ready/{DAY}.json"]


def test_a_drop_in_the_bucket_lands_in_the_gcs_lake_once_and_a_stray_marker_is_set_aside(gcs_landing):
    hook, bucket = gcs_landing
    source, day = Nycflights13Source(), dt.date.fromisoformat(DAY)
    rows = {}
    for table, frame in (("flights", source.flights(day)), ("weather", source.weather(day))):
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False)
        put(hook, bucket, f"landing/{table}/dt={DAY}/part-0.csv", buffer.getvalue().encode())
        rows[table] = len(frame)
    assert drops.land_ready() == []  # no marker yet: not complete, not landed
    put(hook, bucket, f"landing/_ready/{DAY}.json", b"{}")
    put(hook, bucket, "landing/_ready/readme.txt", b"stray")  # a prefix sensor fires on any object: set aside
    with pytest.raises(drops.BadMarkers, match=f"readme.txt.*not a .json marker.*landed first: {DAY}"):
        drops.land_ready()
    assert storage.parquet_rows(storage.location(f"raw/flights/dt={DAY}")) == rows["flights"]
    assert storage.parquet_rows(storage.location(f"raw/weather/dt={DAY}")) == rows["weather"]
    names = set(hook.list(bucket, prefix="landing/_"))
    assert {f"landing/_done/{DAY}.json", "landing/_rejected/readme.txt"} <= names
    assert not any(n.startswith("landing/_ready/") for n in names)
    assert drops.land_ready() == []  # the same drop is not landed twice
    assert storage.parquet_rows(storage.location(f"raw/flights/dt={DAY}")) == rows["flights"]
