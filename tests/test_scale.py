"""The scale-factor generator: shape, keys, null structure, hours, determinism and partitions."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from contrail import datasets, scale, storage
from contrail.sources.nycflights13 import Nycflights13Source

DAY = dt.date(2013, 1, 1)
KEY = ["year", "month", "day", "carrier", "flight", "origin", "sched_dep_time"]


@pytest.fixture(scope="module")
def source():
    return Nycflights13Source()


@pytest.fixture(scope="module")
def real(source):
    return source.flights(DAY)


@pytest.fixture(scope="module")
def scaled(real):
    return scale.scale_flights(real, 12, seed=13)


def copies(frame, n):
    return [frame.iloc[k * n:(k + 1) * n] for k in range(len(frame) // n)]


def minutes(hhmm):
    return (hhmm // 100) * 60 + hhmm % 100


def test_factor_one_returns_the_input_unchanged(real):
    pd.testing.assert_frame_equal(scale.scale_flights(real, 1, seed=13), real)


def test_factor_n_gives_n_times_the_rows_with_the_real_rows_first(real, scaled):
    assert len(scaled) == 12 * len(real)
    pd.testing.assert_frame_equal(scaled.iloc[: len(real)], real)


def test_columns_and_dtypes_are_preserved(real, scaled):
    assert list(scaled.columns) == list(real.columns)
    assert scaled.dtypes.to_dict() == real.dtypes.to_dict()


def test_keys_stay_unique(real, scaled):
    assert not real.duplicated(KEY).any()
    assert not scaled.duplicated(KEY).any()


def test_null_structure_and_cancellation_share_are_exact_per_copy(real, scaled):
    cancelled = real["dep_time"].isna().mean()
    assert cancelled > 0
    for part in copies(scaled, len(real)):
        assert part["dep_time"].isna().mean() == cancelled
        assert part.isna().sum().to_dict() == real.isna().sum().to_dict()
        assert (part["dep_time"].isna() == part["dep_delay"].isna()).all()


def test_hours_and_time_hour_are_unchanged_so_weather_still_joins(real, scaled, source):
    per_hour = real.groupby(["origin", "hour", "time_hour"]).size()
    for part in copies(scaled, len(real)):
        pd.testing.assert_series_equal(part.groupby(["origin", "hour", "time_hour"]).size(), per_hour)
    assert ((scaled["hour"] * 100 + scaled["minute"]) == scaled["sched_dep_time"]).all()
    assert scaled["minute"].between(0, 59).all()
    weather = source.weather(DAY)[["origin", "time_hour"]].drop_duplicates()
    joined = scaled.merge(weather, on=["origin", "time_hour"], how="left", indicator=True)
    real_joined = real.merge(weather, on=["origin", "time_hour"], how="left", indicator=True)
    assert (joined["_merge"] == "both").mean() == (real_joined["_merge"] == "both").mean()


def test_times_stay_consistent_with_delays_and_rows_trace_back_to_a_real_one(real, scaled):
    extra = scaled.iloc[len(real):]
    for actual, sched, delay in (("dep_time", "sched_dep_time", "dep_delay"), ("arr_time", "sched_arr_time", "arr_delay")):
        rows = extra[delay].notna()
        gap = (minutes(extra.loc[rows, sched]) + extra.loc[rows, delay] - minutes(extra.loc[rows, actual])) % 1440
        assert (gap == 0).all(), actual
    # Each extra row is a real flight (flight mod 10000) in the same hour, with its minute and delays jittered.
    origin = extra.assign(flight=extra["flight"] % 10_000).merge(
        real, on=["carrier", "flight", "origin", "hour"], suffixes=("", "_real"), validate="many_to_one"
    )
    assert len(origin) == len(extra)
    assert (origin["time_hour"] == origin["time_hour_real"]).all()
    assert (origin["dest"] == origin["dest_real"]).all()
    assert (origin["minute"] != origin["minute_real"]).mean() > 0.5
    assert (origin["dep_delay"] != origin["dep_delay_real"]).sum() > 0.5 * origin["dep_delay"].notna().sum()
    assert (origin["dep_delay"].dropna() % 1 == 0).all() and (origin["air_time"].dropna() >= 1).all()


def test_same_seed_is_identical_and_other_seeds_or_days_differ(real, scaled):
    pd.testing.assert_frame_equal(scale.scale_flights(real, 12, seed=13), scaled)
    assert not scale.scale_flights(real, 12, seed=14).equals(scaled)
    other_day = real.assign(day=2)
    moved = scale.scale_flights(other_day, 12, seed=13)
    assert not np.array_equal(moved["dep_delay"].to_numpy(), scaled["dep_delay"].to_numpy(), equal_nan=True)


@pytest.mark.parametrize("factor", [0, -3, 2.5, True])
def test_bad_factor_raises_naming_it(real, factor):
    with pytest.raises(ValueError, match=f"got {factor!r}"):
        scale.scale_flights(real, factor, seed=13)


def test_generate_writes_partitions_and_a_rerun_replaces_them(tmp_path, monkeypatch, real, source):
    monkeypatch.setenv("CONTRAIL_DATA_ROOT", str(tmp_path))
    assert scale.generate([DAY], 3, source=source) == {DAY: 3 * len(real)}
    partition = storage.location(datasets.RAW_FLIGHTS.partition(DAY))
    assert len(storage.read_parquet(partition)) == 3 * len(real)
    for dataset in (datasets.RAW_WEATHER, *datasets.DIMENSIONS):
        assert len(storage.read_parquet(storage.location(dataset.partition(DAY)))) > 0

    assert scale.generate([DAY], 2, source=source) == {DAY: 2 * len(real)}
    assert len(storage.read_parquet(partition)) == 2 * len(real)
    assert sorted(p.name for p in (tmp_path / "raw" / "flights").iterdir()) == ["dt=2013-01-01"]


def test_generate_refuses_bad_input_before_writing(tmp_path, monkeypatch, source):
    monkeypatch.setenv("CONTRAIL_DATA_ROOT", str(tmp_path))
    with pytest.raises(ValueError, match="got 0"):
        scale.generate([DAY], 0, source=source)
    with pytest.raises(ValueError, match="2014-01-01"):
        scale.generate([DAY, dt.date(2014, 1, 1)], 2, source=source)
    assert not (tmp_path / "raw").exists()


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--scale", "0", "--start", "2013-01-01"], "got 0"),
        (["--scale", "ten", "--start", "2013-01-01"], "'ten'"),
        (["--scale", "2", "--start", "2014-03-01"], "2014-03-01"),
        (["--scale", "2", "--start", "2013-01-05", "--end", "2013-01-01"], "end 2013-01-01 is before start 2013-01-05"),
        (["--scale", "2", "--start", "2013-01-01", "--seed", "-1"], "got -1"),
    ],
)
def test_cli_bad_input_exits_naming_the_value(argv, named, capsys):
    with pytest.raises(SystemExit) as exit_info:
        scale.main(argv)
    assert exit_info.value.code == 2
    assert named in capsys.readouterr().err


def test_cli_prints_counts_and_data_root(tmp_path, monkeypatch, real, capsys):
    monkeypatch.setenv("CONTRAIL_DATA_ROOT", str(tmp_path))
    assert scale.main(["--scale", "2", "--start", "2013-01-01"]) == 0
    out = capsys.readouterr().out
    assert f"2013-01-01\t{2 * len(real)}" in out
    assert tmp_path.as_uri() in out
