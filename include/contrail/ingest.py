"""Land one day of a raw table from the source into the lake, atomically."""

from __future__ import annotations

import datetime as dt
import logging

from contrail import datasets, storage
from contrail.config import Profile
from contrail.sources import FlightsSource, get_source

log = logging.getLogger(__name__)

TABLES = {
    "flights": datasets.RAW_FLIGHTS,
    "weather": datasets.RAW_WEATHER,
    "planes": datasets.RAW_PLANES,
    "airports": datasets.RAW_AIRPORTS,
    "airlines": datasets.RAW_AIRLINES,
}


def land(table: str, day: dt.date, source: FlightsSource | None = None, prof: Profile | None = None) -> dict:
    """Copy `table` for `day` from the source to raw/<table>/dt=<day>/ and return the run facts."""
    from contrail import inputs

    dataset = TABLES[inputs.one_of(table, tuple(TABLES), "table")]
    frame = (source or get_source()).day_table(table, day)
    dest = storage.location(dataset.partition(day), prof)
    rows = storage.write_parquet_atomically(frame, dest)
    if rows == 0:
        log.warning("landed an EMPTY partition %s: the source had no %s rows for %s", dest, table, day)
    log.info("landed %s rows of %s for %s at %s", rows, table, day, dest)
    return {"dt": f"{day:%Y-%m-%d}", "table": table, "rows": rows, "path": str(dest)}


def land_many(tables, day: dt.date, source: FlightsSource | None = None, prof: Profile | None = None) -> list[dict]:
    """Land several tables for one day with one source instance."""
    source = source or get_source()
    return [land(t, day, source, prof) for t in tables]
