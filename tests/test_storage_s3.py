"""The storage layer against a real S3 protocol server (moto), through an Airflow connection."""

import datetime as dt
import time

import pytest

from contrail import datasets, ingest, storage


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
