
import pandas as pd
import pytest

from contrail import config, storage


@pytest.fixture
def lake(tmp_path, monkeypatch):
    monkeypatch.setenv("CONTRAIL_DATA_ROOT", str(tmp_path / "lake"))
    return tmp_path / "lake"


def frame(n, value=1.0):
    return pd.DataFrame({"id": range(n), "x": [value] * n})


def files_under(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


def test_rewrite_replaces_a_partition_exactly_and_leaves_no_temporary_files(lake):
    dest = storage.location("t/dt=2013-01-01")
    assert storage.write_parquet_atomically(frame(5), dest) == 5
    assert storage.write_parquet_atomically(frame(3, 2.0), dest) == 3
    back = storage.read_parquet(dest)
    assert back.to_dict("list") == {"id": [0, 1, 2], "x": [2.0, 2.0, 2.0]}
    assert files_under(lake) == ["t/dt=2013-01-01/part-00000.parquet"]


def test_a_failed_write_keeps_the_old_partition_and_removes_its_staging(lake):
    dest = storage.location("t/dt=2013-01-01")
    storage.write_parquet_atomically(frame(4), dest)
    unwritable = pd.DataFrame({"x": [object()]})  # pyarrow cannot serialise a bare object
    with pytest.raises(storage.StorageError, match="could not write .*t/dt=2013-01-01"):
        storage.write_parquet_atomically(unwritable, dest)
    assert len(storage.read_parquet(dest)) == 4
    assert files_under(lake) == ["t/dt=2013-01-01/part-00000.parquet"]


def test_staging_left_by_a_killed_attempt_is_swept_on_the_next_write(lake):
    stale = lake / "t" / "_staging-dt=2013-01-01-deadbeef"
    stale.mkdir(parents=True)
    (stale / "part-00000.parquet").write_bytes(b"half a file")
    storage.write_parquet_atomically(frame(2), storage.location("t/dt=2013-01-01"))
    assert files_under(lake) == ["t/dt=2013-01-01/part-00000.parquet"]


def test_missing_and_unreadable_partitions_name_the_path(lake):
    with pytest.raises(storage.StorageError, match=r"missing partition .*t/dt=2013-02-02.*run the step"):
        storage.read_parquet(storage.location("t/dt=2013-02-02"))
    bad = lake / "t" / "dt=2013-02-03"
    bad.mkdir(parents=True)
    (bad / "part-00000.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(storage.StorageError, match=r"unreadable Parquet file .*dt=2013-02-03/part-00000.parquet"):
        storage.read_parquet(storage.location("t/dt=2013-02-03"))


@pytest.mark.parametrize("url", ["s3//bucket/x", "ftp://host/x", "/no/scheme/here", "s3://"])
def test_a_wrong_storage_url_is_refused_with_the_accepted_forms(monkeypatch, url):
    monkeypatch.setenv("CONTRAIL_PROFILE", "aws")
    monkeypatch.setenv("CONTRAIL_DATA_ROOT", url)
    with pytest.raises(config.ConfigError, match=r"bad storage URL .*expected file:///abs/dir, s3://bucket/prefix"):
        storage.root()


def test_cloud_profiles_need_a_data_root_and_name_it(monkeypatch):
    monkeypatch.delenv("CONTRAIL_DATA_ROOT", raising=False)
    with pytest.raises(config.ConfigError, match=r"profile 'gcp' needs CONTRAIL_DATA_ROOT, e.g. gs://"):
        config.profile("gcp")
    with pytest.raises(config.ConfigError, match="unknown CONTRAIL_PROFILE 'onprem'"):
        config.profile("onprem")


@pytest.mark.parametrize(
    "name, root, expected",
    [
        ("local", "/tmp/lake", "file:///tmp/lake/raw"),
        ("aws", "s3://b/p", "s3://b/p/raw"),
        ("gcp", "gs://b/p", "gs://b/p/raw"),
        ("azure", "abfs://c@acct.dfs.core.windows.net/p", "abfss://c@acct.dfs.core.windows.net/p/raw"),
    ],
)
def test_spark_reads_the_same_place_under_its_own_scheme(monkeypatch, name, root, expected):
    monkeypatch.setenv("CONTRAIL_DATA_ROOT", root)
    assert storage.spark_uri("raw", config.profile(name)) == expected
