"""The storage layer against a real S3 protocol server (moto), through an Airflow connection."""

import datetime as dt
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contrail import datasets, ingest, storage


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    server = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
        assert proc.poll() is None and time.monotonic() < deadline, "moto server did not start"
        time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def s3_lake(s3_endpoint, monkeypatch):
    import boto3

    bucket = f"lake-{time.monotonic_ns()}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    conn = {"conn_type": "aws", "login": "testing", "password": "testing",
            "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"}}
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_S3", json.dumps(conn))
    monkeypatch.setenv("CONTRAIL_PROFILE", "aws")
    monkeypatch.setenv("CONTRAIL_AWS_CONN_ID", "lake_s3")
    monkeypatch.setenv("CONTRAIL_DATA_ROOT", f"s3://{bucket}/contrail")
    return client, bucket


def keys(client, bucket):
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_landing_on_s3_writes_one_object_per_partition_and_a_rerun_replaces_it(s3_lake):
    client, bucket = s3_lake
    day = dt.date(2013, 1, 5)
    first = ingest.land("flights", day)
    second = ingest.land("flights", day)
    assert first["rows"] == second["rows"] > 0
    assert keys(client, bucket) == ["contrail/raw/flights/dt=2013-01-05/part-00000.parquet"]
    back = storage.read_parquet(storage.location(datasets.RAW_FLIGHTS.partition(day)))
    assert len(back) == first["rows"]
    assert set(back["year"]) == {2013} and set(back["day"]) == {5}


def test_a_missing_bucket_fails_with_the_path_and_writes_nothing(s3_lake, monkeypatch):
    client, bucket = s3_lake
    monkeypatch.setenv("CONTRAIL_DATA_ROOT", "s3://no-such-bucket-here/contrail")
    with pytest.raises(storage.StorageError, match="could not write s3://.*no-such-bucket-here/contrail/raw/airlines/dt=2013-01-05"):
        ingest.land("airlines", dt.date(2013, 1, 5))
    assert keys(client, bucket) == []


def test_partition_times_come_from_the_object_store(s3_lake):
    before = time.time()
    ingest.land("flights", dt.date(2013, 1, 5))
    ingest.land("flights", dt.date(2013, 1, 6))
    times = storage.partition_mtimes(storage.location(datasets.RAW_FLIGHTS.path))
    assert sorted(times) == ["2013-01-05", "2013-01-06"]
    assert all(before - 2 <= t <= time.time() + 2 for t in times.values())  # S3 keeps whole seconds
