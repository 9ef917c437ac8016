"""Fault scenario 8: K rows that break row-level checks, injected into a real day: exactly those rows are
quarantined, each naming the check it failed, and every other row reaches validated/ unchanged.

`Lake` (one real day landed once per module, gated case after case) is shared with scenario 7.
"""

from __future__ import annotations

import collections
import datetime as dt
import math
import random

import pandas as pd
import pytest

from contrail import datasets, ingest, storage
from contrail.quality import checks, gate, ledger
from contrail.quality.checks import DUPLICATE_MAX_SHARE

DAY = dt.date(2013, 1, 15)
SCENARIO = "8 K row-level faults"
COPY, CONFLICT = "copy", "conflict"  # an extra copy of a row; a row with another row's key and other content
# check -> (column, the value that makes row number i fail it); values differ per row so no two damaged rows collide
DAMAGE = {
    "flights": [
        ("flights.not_null", "dest", lambda i: None),
        ("flights.date_matches_partition", "day", lambda i: DAY.day + 1),
        ("flights.distance_positive", "distance", lambda i: -1 - i),
        ("flights.known_carrier", "carrier", lambda i: f"Z{i}"),
        ("flights.nyc_origin", "origin", lambda i: f"X{i:02d}"),
        ("flights.plausible_delay", "dep_delay", lambda i: 5000.0 + i),
        ("flights.plausible_delay", "arr_delay", lambda i: -500.0 - i),
        ("flights.unique_departure", CONFLICT, None),
        ("flights.duplicate_row", COPY, None),
    ],
    "weather": [
        ("weather.not_null", "time_hour", lambda i: None),
        ("weather.date_matches_partition", "month", lambda i: DAY.month + 1),
        ("weather.plausible_range", "temp", lambda i: 200.0 + i),
        ("weather.plausible_range", "humid", lambda i: -1.0 - i),
        ("weather.plausible_range", "pressure", lambda i: 500.0 - i),
        ("weather.duplicate_row", COPY, None),
    ],
}
SHARE = {"weather.plausible_range": 0.25, "flights.duplicate_row": DUPLICATE_MAX_SHARE, "weather.duplicate_row": DUPLICATE_MAX_SHARE}


def canonical(value):
    """A value as rows are compared: every kind of null is None, arrays are tuples (so rows can be counted)."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, dict):
        return tuple(sorted((k, canonical(v)) for k, v in value.items()))
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    return tuple(canonical(v) for v in value) if isinstance(value, (list, tuple)) else value


def rows(frame: pd.DataFrame | None) -> collections.Counter:
    """The multiset of a frame's rows (order-independent content)."""
    if frame is None:
        return collections.Counter()
    return collections.Counter(tuple(canonical(v) for v in row) for row in frame.itertuples(index=False, name=None))


class Lake:
    """A lake holding one real day of raw flights, weather and airlines, and the gate run over it."""

    def __init__(self, gx, day: dt.date = DAY):
        self.gx, self.day = gx, day
        ingest.land_many(["flights", "weather", "airlines"], day)
        self.original = {table: self.read("raw", table) for table in ("flights", "weather")}

    def location(self, zone: str, table: str):
        place = {"raw": datasets.BY_NAME.get(f"raw_{table}"), "validated": datasets.VALIDATED.get(table),
                 "quarantine": datasets.QUARANTINE.get(table)}[zone]
        return storage.location(place.partition(self.day))

    def read(self, zone: str, table: str) -> pd.DataFrame | None:
        place = self.location(zone, table)
        return storage.read_parquet(place) if place.exists() else None

    def land(self, table: str, content) -> None:
        """Make `content` (a DataFrame, an Arrow table or the bytes of a file) the raw partition of `table`."""
        dest = self.location("raw", table)
        if isinstance(content, bytes):
            storage.remove_partition(dest)
            dest.fs.makedirs(dest.path, exist_ok=True)
            dest.fs.pipe_file(f"{dest.path}/{storage.PART_FILE}", content)
        else:
            storage.write_parquet_atomically(content, dest)

    def gate(self, table: str, engine: str = "pandas") -> dict:
        verdict = gate.gate_raw(table, self.day, gx=self.gx, engine=engine)
        assert verdict == ledger.read_verdict(table, f"{self.day}")
        return verdict

    def published(self, table: str) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
        return self.read("validated", table), self.read("quarantine", table)

    def account(self, verdict: dict, table: str, given: pd.DataFrame | None = None, published=None) -> dict:
        """Check a verdict against what it published (`published`, or read back): rows in = passed + quarantined,
        every row of `given` (by default the raw partition) exactly once, nothing published for a failed day.
        Returns the report's figures."""
        passed, held = published or self.published(table)
        if verdict["status"] == "failed":
            assert verdict["critical"] and held is None, (verdict["critical"], held is None)
            if table == "weather":  # auxiliary: no row passed, published with the columns of any day (the day goes on degraded)
                assert passed is not None and passed.empty and list(passed.columns) == list(checks.WEATHER_COLUMNS)
            else:
                assert passed is None, verdict["critical"]
            return {"rows": verdict["rows_in"], "lost": 0, "duplicates": 0}
        given = self.read("raw", table) if given is None else given
        assert passed is not None and list(passed.columns) == list(given.columns)
        assert verdict["rows_in"] == len(given) == verdict["rows_passed"] + verdict["rows_quarantined"], verdict
        assert len(passed) == verdict["rows_passed"] and (0 if held is None else len(held)) == verdict["rows_quarantined"]
        if held is not None:
            assert list(held.columns) == [*given.columns, gate.FAILED_CHECKS] and held[gate.FAILED_CHECKS].str.len().min() > 0
            held = held.drop(columns=[gate.FAILED_CHECKS])
        went_in, came_out = rows(given), rows(passed) + rows(held)
        return {"rows": len(given), "lost": (went_in - came_out).total(), "duplicates": (came_out - went_in).total()}


@pytest.fixture(scope="module")
def gx():
    from contrail.quality.gx_engine import Validator

    return Validator()  # GX without Data Docs: the gate's own validation, a fraction of a second per day


@pytest.fixture(scope="module")
def lake(gx, tmp_path_factory):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CONTRAIL_DATA_ROOT", str(tmp_path_factory.mktemp("fault-lake")))
        env.delenv("CONTRAIL_QUALITY_ENGINE", raising=False)
        yield Lake(gx)


def inject(day: pd.DataFrame, table: str, k: int, seed: int):
    """The day with `k` rows broken, each for one check (taken in turn); (the landed frame, the rows expected in
    validated/, the rows expected in quarantine/ with their failed checks)."""
    rng = random.Random(seed)
    picked = rng.sample(range(len(day)), k)
    faults = [DAMAGE[table][n % len(DAMAGE[table])] for n in range(k)]
    broken, extra, held, kept = day.copy(), [], [], set(range(len(day)))
    for i, (row, (check, column, value)) in enumerate(zip(picked, faults)):
        if column == COPY:
            extra.append(day.iloc[[row]])
            held.append(day.iloc[[row]].assign(**{gate.FAILED_CHECKS: check}))
        elif column == CONFLICT:
            other = day.iloc[[row]].assign(tailnum=f"N{i}CONF")
            extra.append(other)
            held += [day.iloc[[row]].assign(**{gate.FAILED_CHECKS: check}), other.assign(**{gate.FAILED_CHECKS: check})]
            kept.discard(row)
        else:
            broken.iloc[row, broken.columns.get_loc(column)] = value(i)
            held.append(broken.iloc[[row]].assign(**{gate.FAILED_CHECKS: check}))
            kept.discard(row)
    per_check = collections.Counter(check for check, *_ in faults)
    for check, count in per_check.items():  # beyond its share a check rejects the day: the scenario would be another
        assert count <= SHARE.get(check, 0.05) * len(day), f"{count} rows for {check} exceed its share of {len(day)} rows"
    landed = pd.concat([broken, *extra], ignore_index=True).sample(frac=1, random_state=seed, ignore_index=True)
    return landed, day.iloc[sorted(kept)], pd.concat(held, ignore_index=True) if held else None


CASES = [("flights", k) for k in (1, 9, 40, 120)] + [("weather", k) for k in (1, 6, 12)]


@pytest.mark.parametrize("table, k", CASES, ids=[f"{t}-K{k}" for t, k in CASES])
def test_exactly_the_k_broken_rows_are_quarantined_with_their_check(lake, fault_report, table, k):
    check_k_rows(lake, fault_report, table, k, "pandas")


@pytest.mark.spark
def test_on_spark_exactly_the_k_broken_rows_are_quarantined_with_their_check(lake, fault_report, spark):
    check_k_rows(lake, fault_report, "flights", 40, "spark")


def check_k_rows(lake: Lake, fault_report, table: str, k: int, engine: str) -> None:
    landed, kept, held = inject(lake.original[table], table, k, seed=k)
    lake.land(table, landed)
    verdict = lake.gate(table, engine)
    assert verdict["status"] == "warning" and verdict["engine"] == engine, verdict
    figures = lake.account(verdict, table)
    quarantined = lake.read("quarantine", table)
    assert rows(quarantined) == rows(held), (rows(quarantined) - rows(held), rows(held) - rows(quarantined))
    assert rows(lake.read("validated", table)) == rows(kept)
    fault_report.add(SCENARIO, faults=k, cases=1, **figures)
