"""The landing watcher on the aws profile, against a real S3 protocol server (moto): the sensor's
own trigger fires on a marker in the bucket and not before, and a drop in the bucket lands once."""

from __future__ import annotations

import asyncio
import datetime as dt
import io

import pytest
from test_landing import assert_no_event, deferred_trigger, next_event

from contrail import drops, storage
from contrail.platforms import landing as landing_sensor
from contrail.sources.nycflights13 import Nycflights13Source

DAY = "2013-10-17"


@pytest.fixture
def s3_landing(s3_lake, monkeypatch):
    client, bucket = s3_lake
    monkeypatch.setenv("CONTRAIL_LANDING_URL", f"s3://{bucket}/landing")
    return client, bucket


def test_the_s3_sensor_defers_and_its_trigger_fires_on_a_marker_in_the_bucket(s3_landing):
    from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor

    client, bucket = s3_landing
    sensor = landing_sensor.drop_sensor("wait_for_drop")
    assert sensor.operator_name == "S3KeySensor"  # built when the task runs, so the DAG parses without the SDK
    sensor.render_template_fields({})
    inner = sensor.provider_operator()
    assert isinstance(inner, S3KeySensor) and inner.deferrable and inner.aws_conn_id == "lake_s3"
    trigger = deferred_trigger(sensor)  # its first poke lists the empty bucket, then it defers
    assert_no_event(trigger, 2.0)  # nothing dropped yet
    client.put_object(Bucket=bucket, Key="landing/_ready/notes.txt", Body=b"x")
    assert_no_event(trigger, 1.5)  # only *.json markers count
    client.put_object(Bucket=bucket, Key=f"landing/_ready/{DAY}.json", Body=b"{}")
    event = asyncio.run(next_event(trigger, 10.0))
    assert event.payload["status"] == "success"
    inner.execute_complete(context={}, event=event.payload)  # the sensor accepts what its trigger found


def test_a_drop_in_the_bucket_lands_in_the_s3_lake_once(s3_landing):
    client, bucket = s3_landing
    source, day = Nycflights13Source(), dt.date.fromisoformat(DAY)
    rows = {}
    for table, frame in (("flights", source.flights(day)), ("weather", source.weather(day))):
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False)
        client.put_object(Bucket=bucket, Key=f"landing/{table}/dt={DAY}/part-0.csv", Body=buffer.getvalue().encode())
        rows[table] = len(frame)
    assert drops.land_ready() == []  # no marker yet: not complete, not landed
    client.put_object(Bucket=bucket, Key=f"landing/_ready/{DAY}.json", Body=b"{}")
    assert drops.land_ready() == [{"dt": DAY, "tables": rows}]
    assert storage.parquet_rows(storage.location(f"raw/flights/dt={DAY}")) == rows["flights"]
    assert storage.parquet_rows(storage.location(f"raw/weather/dt={DAY}")) == rows["weather"]
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="landing/").get("Contents", [])}
    assert f"landing/_done/{DAY}.json" in keys and f"landing/_ready/{DAY}.json" not in keys
    assert drops.land_ready() == []  # the same drop is not landed twice
