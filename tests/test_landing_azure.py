"""The landing watcher on the azure profile, against Azurite (the Azure Blob protocol emulator,
installed by `make test` from package.json): the sensor's own trigger fires on a marker in the
container, and a drop in the container lands once in an Azure lake."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import time

import pytest
from emulators import AZURITE_ACCOUNT as ACCOUNT
from test_landing import assert_no_event, deferred_trigger, next_event

from contrail import drops, storage
from contrail.platforms import landing as landing_sensor
from contrail.sources.nycflights13 import Nycflights13Source

DAY = "2013-10-19"


@pytest.fixture
def azure_zone(azurite, monkeypatch):
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(azurite)
    lake, zone = f"lake{time.monotonic_ns()}", f"landing{time.monotonic_ns()}"
    service.create_container(lake)
    container = service.create_container(zone)
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_WASB", json.dumps({"conn_type": "wasb", "extra": {"connection_string": azurite}}))
    monkeypatch.setenv("CONTRAIL_PROFILE", "azure")
    monkeypatch.setenv("CONTRAIL_AZURE_CONN_ID", "lake_wasb")
    monkeypatch.setenv("CONTRAIL_DATA_ROOT", f"abfs://{lake}@{ACCOUNT}.dfs.core.windows.net/contrail")
    monkeypatch.setenv("CONTRAIL_LANDING_URL", f"abfs://{zone}@{ACCOUNT}.dfs.core.windows.net/drops")
    return container


def test_the_blob_sensor_defers_and_its_trigger_fires_on_a_marker_in_the_container(azure_zone):
    from airflow.providers.microsoft.azure.sensors.wasb import WasbPrefixSensor

    sensor = landing_sensor.drop_sensor("wait_for_drop")
    assert sensor.operator_name == "WasbPrefixSensor"  # built when the task runs, so the DAG parses without the SDK
    sensor.render_template_fields({})
    inner = sensor.provider_operator()
    assert isinstance(inner, WasbPrefixSensor) and inner.deferrable and inner.wasb_conn_id == "lake_wasb"
    assert (inner.container_name, inner.prefix) == (azure_zone.container_name, "drops/_ready/")
    trigger = deferred_trigger(sensor)  # its first poke lists the empty container, then it defers
    assert_no_event(trigger, 2.0)  # nothing dropped yet
    azure_zone.upload_blob("drops/flights/dt=2013-10-19/part-0.csv", b"a,b\n")
    assert_no_event(trigger, 1.5)  # data without its marker: not ready
    azure_zone.upload_blob(f"drops/_ready/{DAY}.json", b"{}")
    assert asyncio.run(next_event(trigger, 10.0)).payload["status"] == "success"


def test_a_drop_in_the_container_lands_in_the_azure_lake_once(azure_zone):
    source, day = Nycflights13Source(), dt.date.fromisoformat(DAY)
    rows = {}
    for table, frame in (("flights", source.flights(day)), ("weather", source.weather(day))):
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False)
        azure_zone.upload_blob(f"drops/{table}/dt={DAY}/part-0.csv", buffer.getvalue().encode())
        rows[table] = len(frame)
    assert drops.land_ready() == []  # no marker yet
    azure_zone.upload_blob(f"drops/_ready/{DAY}.json", b"{}")
    azure_zone.upload_blob("drops/_ready/readme.txt", b"stray")  # a prefix sensor fires on any object: set aside
    with pytest.raises(drops.BadMarkers, match=f"readme.txt.*not a .json marker.*landed first: {DAY}"):
        drops.land_ready()
    assert storage.parquet_rows(storage.location(f"raw/flights/dt={DAY}")) == rows["flights"]
    assert storage.parquet_rows(storage.location(f"raw/weather/dt={DAY}")) == rows["weather"]
    names = {b.name for b in azure_zone.list_blobs(name_starts_with="drops/_")}
    assert {f"drops/_done/{DAY}.json", "drops/_rejected/readme.txt"} <= names
    assert not any(n.startswith("drops/_ready/") for n in names)
    assert drops.land_ready() == []
