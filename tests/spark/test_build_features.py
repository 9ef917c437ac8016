"""The feature job's pure transforms on hand-made rows, on the local Spark Connect server."""

import pytest

from spark_jobs import build_features as bf

pytestmark = pytest.mark.spark

FLIGHT_SCHEMA = ("year int, month int, day int, dep_time double, sched_dep_time int, arr_delay double, "
                 "carrier string, flight int, tailnum string, origin string, dest string, distance int, "
                 "hour int, minute int, time_hour string")
WEATHER_SCHEMA = "dt string, origin string, time_hour string, " + ", ".join(f"{c} double" for c in bf.WEATHER_COLUMNS)
PLANE_SCHEMA = "dt string, tailnum string, year int, seats int, engines int"


def flight(flight=1, day=1, month=1, hour=5, minute=15, time_hour="2013-01-01T10:00:00Z", dep_time=517.0,
           arr_delay=20.0, tailnum="N1", origin="EWR"):
    return (2013, month, day, dep_time, hour * 100 + minute, arr_delay, "UA", flight, tailnum, origin, "IAH",
            1400, hour, minute, time_hour)


def weather(time_hour, temp, dt="2013-01-01", origin="EWR"):
    return (dt, origin, time_hour, temp, 20.0, 50.0, 270.0, 10.0, None, 0.0, 1012.0, 10.0)


def build(spark, flights, weathers, planes):
    out = bf.build(spark.createDataFrame(flights, FLIGHT_SCHEMA), spark.createDataFrame(weathers, WEATHER_SCHEMA),
                   spark.createDataFrame(planes, PLANE_SCHEMA))
    return {r["flight"]: r.asDict() for r in out.collect()}


def test_weather_joins_on_the_origin_and_utc_hour_of_the_scheduled_departure(spark):
    rows = build(
        spark,
        [flight(1, hour=5, time_hour="2013-01-01T10:00:00Z"), flight(2, hour=6, minute=59, time_hour="2013-01-01T11:00:00Z"),
         flight(3, hour=5, time_hour="2013-01-01T10:00:00Z", origin="JFK")],
        [weather("2013-01-01T10:00:00Z", 30.0), weather("2013-01-01T11:00:00Z", 31.0),
         weather("2013-01-01T10:00:00Z", 40.0, origin="JFK")],
        [("2013-01-01", "N1", 2003, 150, 2)],
    )
    assert {f: r["temp"] for f, r in rows.items()} == {1: 30.0, 2: 31.0, 3: 40.0}


def test_the_repeated_local_hour_of_the_dst_change_does_not_duplicate_flights(spark):
    # 2013-11-03: local 01:00 happens at 05:00Z (EDT) and again at 06:00Z (EST)
    day = "2013-11-03"
    rows = build(
        spark,
        [flight(1, month=11, day=3, hour=1, time_hour="2013-11-03T05:00:00Z"),
         flight(2, month=11, day=3, hour=1, time_hour="2013-11-03T06:00:00Z")],
        [weather("2013-11-03T05:00:00Z", 50.0, dt=day), weather("2013-11-03T06:00:00Z", 48.0, dt=day),
         weather("2013-11-03T06:00:00Z", 48.0, dt=day)],  # a repeated reading is dropped, not joined twice
        [(day, "N1", 2003, 150, 2)],
    )
    assert {f: r["temp"] for f, r in rows.items()} == {1: 50.0, 2: 48.0}


def test_missing_weather_and_missing_plane_leave_nulls_and_keep_the_flight(spark):
    rows = build(spark, [flight(1, tailnum="N404"), flight(2, tailnum=None)], [], [("2013-01-01", "N1", 2003, 150, 2)])
    assert sorted(rows) == [1, 2]
    assert all(r["temp"] is None and r["plane_age"] is None and r["seats"] is None for r in rows.values())
    assert {f: r["degraded"] for f, r in rows.items()} == {1: "weather,plane", 2: "weather,plane"}


def test_each_row_is_marked_with_the_auxiliary_inputs_it_lacks(spark):
    rows = build(
        spark,
        [flight(1), flight(2, tailnum="N404"), flight(3, hour=6, time_hour="2013-01-01T11:00:00Z"),
         flight(4, hour=6, time_hour="2013-01-01T11:00:00Z", tailnum="N404")],
        [weather("2013-01-01T10:00:00Z", 30.0), weather("2013-01-01T11:00:00Z", None)],  # a reading whose temp is missing
        [("2013-01-01", "N1", 2003, 150, 2)],
    )
    # a reading found with null values is not a missing reading: the mark says which joins found no row
    assert {f: r["degraded"] for f, r in rows.items()} == {1: "", 2: "plane", 3: "", 4: "plane"}
    assert rows[3]["temp"] is None and rows[3]["pressure"] == 1012.0


def test_plane_age_seats_and_calendar_features(spark):
    rows = build(spark, [flight(1, month=3, day=9)], [], [("2013-03-09", "N1", 2003, 150, 2)])
    r = rows[1]
    assert (r["plane_age"], r["seats"], r["engines"]) == (10.0, 150.0, 2.0)
    assert (r["dt"], r["weekday"], r["day_of_year"], r["month"], r["hour"]) == ("2013-03-09", 7, 68, 3, 5)  # a Saturday


def test_label_is_arrival_15_minutes_late_and_unlabelled_flights_are_left_out(spark):
    rows = build(
        spark,
        [flight(1, arr_delay=14.0), flight(2, arr_delay=15.0), flight(3, arr_delay=-5.0),
         flight(4, dep_time=None, arr_delay=None),  # cancelled
         flight(5, dep_time=600.0, arr_delay=None)],  # diverted
        [], [],
    )
    assert {f: r["label"] for f, r in rows.items()} == {1: 0, 2: 1, 3: 0}


def test_partition_counts_account_for_every_flight(spark):
    flights = spark.createDataFrame(
        [flight(1), flight(2, dep_time=None, arr_delay=None), flight(3, dep_time=600.0, arr_delay=None),
         flight(4, day=2, time_hour="2013-01-02T10:00:00Z")], FLIGHT_SCHEMA)
    features = bf.build(flights, spark.createDataFrame([], WEATHER_SCHEMA), spark.createDataFrame([], PLANE_SCHEMA))
    counts = {r["dt"]: r.asDict() for r in bf.partition_counts(flights, features).collect()}
    assert counts["2013-01-01"] == {"dt": "2013-01-01", "flights_in": 3, "cancelled": 1, "diverted": 1, "features": 1}
    assert counts["2013-01-02"]["features"] == 1


def test_count_check_names_the_day_and_the_numbers():
    with pytest.raises(RuntimeError, match="row count mismatch for 2013-01-01"):
        bf.check_counts({"2013-01-01": {"flights_in": 5, "features": 5, "cancelled": 1, "diverted": 0}}, ["2013-01-01"])
    with pytest.raises(RuntimeError, match="no flights read for 2013-01-02"):
        bf.check_counts({}, ["2013-01-02"])


def test_a_missing_partition_names_the_path(spark, tmp_path):
    roots = [tmp_path.as_uri() + f"/{zone}" for zone in ("raw", "validated", "features", "counts")]
    with pytest.raises(FileNotFoundError, match=r"missing partition for flights: .*validated/flights/dt=2013-05-05"):
        bf.run(spark, *roots, ["2013-05-05"])
    assert not (tmp_path / "features").exists()
