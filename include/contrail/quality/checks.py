"""The quality suites as code: every check of raw flights, raw weather and features, with its severity.

A check is data (a Great Expectations expectation type, its arguments, a severity and whether it
judges single rows) so that the same suite runs on pandas and on Spark and so that tests and
reports can name it. Severity:

* ``critical``: the day fails its gate and nothing downstream consumes it.
* ``warning``: recorded in the verdict and the report; the run goes on.

Row-level checks quarantine the rows they reject and let the rest go on; they are warnings unless
the rejected share of the day exceeds ``max_bad_share``, which means a broken feed, not bad rows,
and is critical.

Exact duplicates (a row equal in every column to an earlier row of the day) are not bad rows: the
gate keeps the first copy, quarantines the extra copies under ``<table>.duplicate_row`` and runs the
suite on the rows that remain, so a key shared by copies of one row is no conflict, and the copies
count toward no other check's share. They have a threshold of their own, ``DUPLICATE_MAX_SHARE``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

ORIGINS = ("EWR", "JFK", "LGA")
# Column -> kind; kinds map onto the type names each engine reports (pandas dtypes, Spark types).
FLIGHT_COLUMNS = {
    "year": "int", "month": "int", "day": "int", "dep_time": "number", "sched_dep_time": "int",
    "dep_delay": "number", "arr_time": "number", "sched_arr_time": "int", "arr_delay": "number",
    "carrier": "str", "flight": "int", "tailnum": "str", "origin": "str", "dest": "str",
    "air_time": "number", "distance": "number", "hour": "int", "minute": "int", "time_hour": "str",
}
FLIGHT_KEYS = ("year", "month", "day", "carrier", "flight", "origin", "dest", "sched_dep_time")
FLIGHT_UNIQUE = ("carrier", "flight", "origin", "sched_dep_time")
DELAY_BOUNDS = (-120, 1440)  # minutes; the 2013 extremes are -86 and 1301
WEATHER_COLUMNS = {
    "origin": "str", "year": "int", "month": "int", "day": "int", "hour": "int", "temp": "number",
    "dewp": "number", "humid": "number", "wind_dir": "number", "wind_speed": "number",
    "wind_gust": "number", "precip": "number", "pressure": "number", "visib": "number", "time_hour": "str",
}
WEATHER_RANGES = {  # plausible physical ranges (F, %, degrees, mph, inches, millibars, miles)
    "temp": (-40, 130), "dewp": (-60, 100), "humid": (0, 100), "wind_dir": (0, 360),
    "wind_speed": (0, 120), "wind_gust": (0, 150), "precip": (0, 10), "pressure": (900, 1100), "visib": (0, 10),
}
MODEL_INPUTS = ("hour", "minute", "weekday", "month", "day_of_year", "carrier", "origin", "dest", "distance", "label")
LABEL_SHARE = (0.02, 0.8)
ROW_COUNT_TOLERANCE = 0.35  # a day's flights within +-35 % of the same weekday's recent average
# Extra copies beyond this share of the day's rows are critical: a day landed twice (a share of 0.5) is
# repaired by keeping one copy of each row; more means a feed that repeats itself, not a resend.
DUPLICATE_MAX_SHARE = 0.5
TYPE_NAMES = {
    "pandas": {"int": ["int64", "int32", "Int64", "Int32"], "number": ["int64", "int32", "float64", "float32", "Int64", "Float64"],
               "str": ["object", "str", "StringDtype"]},
    "spark": {"int": ["IntegerType", "LongType", "ShortType"], "number": ["IntegerType", "LongType", "DoubleType", "FloatType"],
              "str": ["StringType"]},
}


@dataclass(frozen=True)
class Check:
    name: str
    expectation: str  # a great_expectations.expectations class name; "" for a check the gate computes itself
    kwargs: dict = field(default_factory=dict)
    severity: str = "critical"
    row_level: bool = False
    max_bad_share: float = 0.05

    @property
    def column(self) -> str:
        return self.kwargs.get("column") or ",".join(self.kwargs.get("column_list", ())) or "(table)"


def _schema(table: str, columns: dict[str, str], engine: str) -> list[Check]:
    checks = [Check(f"{table}.column_exists", "ExpectColumnToExist", {"column": c}) for c in columns]
    return checks + [Check(f"{table}.column_type", "ExpectColumnValuesToBeInTypeList",
                           {"column": c, "type_list": TYPE_NAMES[engine][kind]}) for c, kind in columns.items()]


def _date_matches(table: str, day: dt.date) -> list[Check]:
    return [Check(f"{table}.date_matches_partition", "ExpectColumnValuesToBeInSet",
                  {"column": part, "value_set": [getattr(day, part)]}, "warning", row_level=True)
            for part in ("year", "month", "day")]


def _not_null(table: str, columns, **how) -> list[Check]:
    return [Check(f"{table}.not_null", "ExpectColumnValuesToNotBeNull", {"column": c}, **how) for c in columns]


def flights(day: dt.date, carriers: list[str], recent_counts: list[int], engine: str = "pandas") -> list[Check]:
    """Raw flights of `day`; `carriers` from that day's airlines table, `recent_counts` of the same weekday."""
    checks = [Check("flights.not_empty", "ExpectTableRowCountToBeBetween", {"min_value": 1})]
    checks += _schema("flights", FLIGHT_COLUMNS, engine)
    checks += _not_null("flights", FLIGHT_KEYS, severity="warning", row_level=True)
    checks += _date_matches("flights", day)
    checks += [
        Check("flights.distance_positive", "ExpectColumnValuesToBeBetween",
              {"column": "distance", "min_value": 0, "strict_min": True}, "warning", row_level=True),
        Check("flights.known_carrier", "ExpectColumnValuesToBeInSet",
              {"column": "carrier", "value_set": sorted(carriers)}, "warning", row_level=True),
        Check("flights.nyc_origin", "ExpectColumnValuesToBeInSet",
              {"column": "origin", "value_set": list(ORIGINS)}, "warning", row_level=True),
        *[Check("flights.plausible_delay", "ExpectColumnValuesToBeBetween",
                {"column": c, "min_value": DELAY_BOUNDS[0], "max_value": DELAY_BOUNDS[1]}, "warning", row_level=True)
          for c in ("dep_delay", "arr_delay")],
        Check("flights.unique_departure", "ExpectCompoundColumnsToBeUnique",
              {"column_list": list(FLIGHT_UNIQUE)}, "warning", row_level=True),
    ]
    if len(recent_counts) >= 2:
        mean = sum(recent_counts) / len(recent_counts)
        checks.append(Check("flights.row_count_like_recent_weekdays", "ExpectTableRowCountToBeBetween",
                            {"min_value": int(mean * (1 - ROW_COUNT_TOLERANCE)),
                             "max_value": int(mean * (1 + ROW_COUNT_TOLERANCE)) + 1}, "warning"))
    return checks


def weather(day: dt.date, engine: str = "pandas") -> list[Check]:
    """Raw weather rows of `day` (hourly, per origin)."""
    checks = [Check("weather.not_empty", "ExpectTableRowCountToBeBetween", {"min_value": 1})]
    checks += _schema("weather", WEATHER_COLUMNS, engine)
    checks += _not_null("weather", ("origin", "time_hour"), severity="warning", row_level=True)
    checks += _date_matches("weather", day)
    checks += [Check("weather.plausible_range", "ExpectColumnValuesToBeBetween",
                     {"column": c, "min_value": lo, "max_value": hi}, "warning", row_level=True, max_bad_share=0.25)
               for c, (lo, hi) in WEATHER_RANGES.items()]
    return checks


def duplicate_row(table: str) -> Check:
    """Extra copies of a row (equal in every column): computed by the gate on either engine, not by GX, whose
    uniqueness expectations reject every copy where one must be kept."""
    return Check(f"{table}.duplicate_row", "", {}, "warning", row_level=True, max_bad_share=DUPLICATE_MAX_SHARE)


def reserved_columns(table: str, names: tuple[str, ...]) -> Check:
    """No input column may bear a name the gate writes itself (the quarantine's `failed_checks`): it would be overwritten."""
    return Check(f"{table}.no_reserved_column", "", {"absent": list(names)})


def weather_coverage(expected_hours: int) -> list[Check]:
    """Checks of the one-row coverage table (a column per origin: its distinct hours of weather that day)."""
    return [Check("weather.hourly_coverage", "ExpectColumnMaxToBeBetween",
                  {"column": origin, "min_value": expected_hours}, "warning") for origin in ORIGINS]


def features(expected_rows: int) -> list[Check]:
    """A day's features: model inputs complete, label share sane, every validated flight accounted for."""
    return [
        *_not_null("features", MODEL_INPUTS),
        Check("features.label_share", "ExpectColumnMeanToBeBetween",
              {"column": "label", "min_value": LABEL_SHARE[0], "max_value": LABEL_SHARE[1]}, "warning"),
        Check("features.row_count_accounts_for_raw", "ExpectTableRowCountToEqual", {"value": expected_rows}),
    ]
