import datetime as dt
import hashlib
import shutil

import pytest

from contrail import datasets, ingest, storage
from contrail.dates import NoSourceData
from contrail.sources import SourceError, get_source
from contrail.sources.landing import LandingSource
from contrail.sources.nycflights13 import Nycflights13Source, data_dir


@pytest.fixture
def lake(tmp_path, monkeypatch):
    monkeypatch.setenv("CONTRAIL_DATA_ROOT", str(tmp_path / "lake"))
    return tmp_path / "lake"


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_day_of_real_flights_lands_with_every_row_of_that_day(lake):
    facts = ingest.land("flights", dt.date(2013, 1, 1))
    assert facts == {"dt": "2013-01-01", "table": "flights", "rows": 842,
                     "path": f"file://{lake}/raw/flights/dt=2013-01-01"}
    frame = storage.read_parquet(storage.location(datasets.RAW_FLIGHTS.partition(dt.date(2013, 1, 1))))
    assert frame[["year", "month", "day"]].drop_duplicates().values.tolist() == [[2013, 1, 1]]
    assert frame["dep_time"].isna().sum() == 4  # the day's cancelled flights are kept


def test_landing_twice_gives_byte_identical_partitions(lake):
    tables = ["flights", "weather", "planes", "airports", "airlines"]
    ingest.land_many(tables, dt.date(2013, 2, 9))
    first = {p: digest(p) for p in lake.rglob("*") if p.is_file()}
    ingest.land_many(tables, dt.date(2013, 2, 9))
    second = {p: digest(p) for p in lake.rglob("*") if p.is_file()}
    assert first == second and len(first) == 5


def test_a_date_outside_2013_fails_naming_the_date_and_writes_nothing(lake):
    with pytest.raises(NoSourceData, match="no source data for 2014-01-01 .*2013-01-01 to 2013-12-31"):
        ingest.land("flights", dt.date(2014, 1, 1))
    assert not lake.exists()


def test_a_missing_source_table_names_the_table_and_the_file(lake, tmp_path):
    partial = tmp_path / "nyc"
    partial.mkdir()
    shutil.copy(f"{data_dir()}/airlines.csv", partial)
    source = Nycflights13Source(str(partial))
    with pytest.raises(SourceError, match=r"missing source table 'weather': no file .*nyc/weather.csv"):
        ingest.land("weather", dt.date(2013, 1, 1), source)
    assert not lake.exists()


def test_unknown_source_and_table_are_refused():
    with pytest.raises(SourceError, match="unknown CONTRAIL_SOURCE 'kaggle'"):
        get_source("kaggle")
    with pytest.raises(SourceError, match="unknown table 'routes'"):
        Nycflights13Source().day_table("routes", dt.date(2013, 1, 1))


def test_a_landing_zone_can_replace_the_package(lake, tmp_path):
    zone = tmp_path / "landing"
    (zone / "flights" / "dt=2013-03-03").mkdir(parents=True)
    real = Nycflights13Source().flights(dt.date(2013, 3, 3))
    real.head(10).to_csv(zone / "flights" / "dt=2013-03-03" / "drop-1.csv", index=False)
    real.iloc[10:25].to_parquet(zone / "flights" / "dt=2013-03-03" / "drop-2.parquet")
    source = LandingSource(zone.as_uri())
    facts = ingest.land("flights", dt.date(2013, 3, 3), source)
    assert facts["rows"] == 25
    with pytest.raises(SourceError, match=r"missing source table 'weather': no CSV or Parquet files in .*landing/weather/dt=2013-03-03"):
        source.weather(dt.date(2013, 3, 3))


def test_landing_keeps_rows_dated_otherwise_for_the_quality_gate(tmp_path):
    zone = tmp_path / "landing" / "flights" / "dt=2013-03-03"
    zone.mkdir(parents=True)
    Nycflights13Source().flights(dt.date(2013, 3, 4)).head(3).to_csv(zone / "late.csv", index=False)
    landed = LandingSource((tmp_path / "landing").as_uri()).flights(dt.date(2013, 3, 3))
    assert landed["day"].tolist() == [4, 4, 4]


def build_counts(day: dt.date) -> None:
    """Stand in for the feature job's last write: the day's counts partition."""
    import pandas as pd

    row = pd.DataFrame([{"flights_in": 1, "features": 1, "cancelled": 0, "diverted": 0}])
    storage.write_parquet_atomically(row, storage.location(f"{datasets.FEATURE_COUNTS.path}/dt={day}"))


def test_stale_days_are_those_landed_after_their_last_build(lake):
    from contrail.features import stale_days

    jan1, jan2 = dt.date(2013, 1, 1), dt.date(2013, 1, 2)
    assert stale_days() == []
    ingest.land("flights", jan1)
    ingest.land("flights", jan2)
    assert stale_days() == ["2013-01-01", "2013-01-02"]
    build_counts(jan1)
    assert stale_days() == ["2013-01-02"]
    (lake / "raw" / "flights" / "_staging-dt=2013-01-03-abc").mkdir()  # a killed landing is not a day
    build_counts(jan2)
    assert stale_days() == []
    ingest.land("flights", jan1)  # a re-landing makes the day stale again
    assert stale_days() == ["2013-01-01"]
