import datetime as dt

import pytest

from contrail.dates import NoSourceData, data_date, day_range
from contrail.runs import requested_days

D = dt.date


@pytest.mark.parametrize(
    "logical, setting, expected",
    [
        (D(2013, 3, 1), "auto", D(2013, 3, 1)),  # backfills over 2013 map to themselves
        (D(2026, 11, 23), "auto", D(2013, 11, 23)),  # tonight replays the same calendar day of 2013
        (D(2027, 1, 1), "auto", D(2013, 1, 1)),
        (D(2026, 11, 23), "13", D(2013, 11, 23)),
        (D(2013, 12, 31), "0", D(2013, 12, 31)),
        (dt.datetime(2026, 6, 1, 0, 0, tzinfo=dt.timezone.utc), "auto", D(2013, 6, 1)),
    ],
)
def test_data_date_maps_logical_dates_onto_2013(logical, setting, expected):
    assert data_date(logical, setting) == expected


@pytest.mark.parametrize(
    "logical, setting, message",
    [
        (D(2026, 11, 23), "0", "no source data for 2026-11-23"),  # replay off: today has no data
        (D(2012, 12, 31), "auto", "no source data for 2012-12-31"),
        (D(2026, 11, 23), "12", "no source data for 2014-11-23"),
        (D(2028, 2, 29), "auto", "no calendar twin"),
        (D(2026, 1, 1), "soon", "must be 'auto' or a whole number"),
    ],
)
def test_dates_without_data_fail_with_the_date_and_the_range(logical, setting, message):
    with pytest.raises(NoSourceData, match=message):
        data_date(logical, setting)


def test_replay_setting_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("CONTRAIL_REPLAY_YEARS", "0")
    with pytest.raises(NoSourceData, match="2013-01-01 to 2013-12-31"):
        data_date(D(2026, 11, 23))


def test_day_range_is_inclusive_and_refuses_reversed_ranges():
    assert day_range(D(2013, 2, 27), D(2013, 3, 1)) == [D(2013, 2, 27), D(2013, 2, 28), D(2013, 3, 1)]
    with pytest.raises(ValueError, match="before start"):
        day_range(D(2013, 3, 2), D(2013, 3, 1))


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"start": "2013-01-30", "end": "2013-02-01"}, ["2013-01-30", "2013-01-31", "2013-02-01"]),
        ({"start": "2013-01-30"}, ["2013-01-30"]),
        ({"end": "2013-01-30"}, ["2013-01-30"]),
        ({}, ["2013-07-04"]),
        ({"start": None, "end": None}, ["2013-07-04"]),
    ],
)
def test_requested_days_prefer_params_then_the_run_day(params, expected):
    days = requested_days(params, fallback=D(2013, 7, 4))
    assert [f"{d}" for d in days] == expected


def test_requested_days_outside_2013_are_refused():
    with pytest.raises(NoSourceData, match="params start/end"):
        requested_days({"start": "2012-12-31", "end": "2013-01-01"}, fallback=None)
