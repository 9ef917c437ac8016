"""A landing zone (folder or bucket) where upstream systems drop CSV or Parquet files.

A day a managed converter turned into Parquet (`_converted/<table>/dt=<day>/`, the Glue job of the
aws profile) is read from there; the dropped files stay as they came."""

from __future__ import annotations

import datetime as dt

from contrail.sources.base import FlightsSource, SourceError


CONVERTED = "_converted"


class LandingSource(FlightsSource):
    """Reads `<url>/<table>/dt=YYYY-MM-DD/*` for daily tables and `<url>/<table>/*` for dimensions."""

    def __init__(self, url: str, conn_id: str | None = None):
        from contrail import storage

        self.url = url.rstrip("/")
        self.root = storage.path(self.url, conn_id)

    def _read_folder(self, relative: str, table: str):
        import pandas as pd

        converted = self.root / CONVERTED / relative
        folder = converted if converted.exists() else self.root / relative
        fs = folder.fs
        files = sorted(p for p in fs.find(folder.path) if p.endswith((".csv", ".csv.gz", ".csv.zip", ".parquet")))
        if not files:
            raise SourceError(f"missing source table {table!r}: no CSV or Parquet files in {self.url}/{relative}")
        frames = []
        for path in files:
            with fs.open(path, "rb") as fh:
                if path.endswith(".parquet"):
                    frames.append(pd.read_parquet(fh))
                else:
                    compression = "zip" if path.endswith(".zip") else "gzip" if path.endswith(".gz") else None
                    frames.append(pd.read_csv(fh, compression=compression, dtype={"tailnum": "string", "time_hour": "string"}))
        return pd.concat(frames, ignore_index=True)

    def _day(self, table: str, day: dt.date):
        # Everything dropped for the day is landed, even rows dated otherwise: the quality gate
        # quarantines those with a reason, where filtering here would lose them silently.
        return self._read_folder(f"{table}/dt={day:%Y-%m-%d}", table)

    def flights(self, day: dt.date):
        return self._day("flights", day)

    def weather(self, day: dt.date):
        return self._day("weather", day)

    def dimension(self, table: str):
        return self._read_folder(table, table)
