"""Validation throughput of the flights suite (GX on pandas and on Spark) against a hand-written pandas pass.

    .venv/bin/python bench/quality_throughput.py [--runs 3] [--no-spark]

Inputs: real 2013 flights scaled with contrail.scale (factor 1 and 10), as one day (the gate's
batch) and as one month (January), with 0.5 % of the rows damaged (null carrier, negative
distance, unknown carrier) so every path that finds bad rows is exercised. For each input:

* hand: plain pandas computing the same checks (schema, types, not-null keys, date, distance,
  carrier and origin sets, delay bounds, duplicates, row count) and the bad row indexes of each;
* GX pandas: the suite of include/contrail/quality/checks.py with COMPLETE results (row indexes);
* GX Spark: the same suite through GX's Spark data source over the local Spark Connect server,
  on a checkpointed DataFrame with row ids (what the gate's Spark engine validates).

Throughput = rows / median wall time of --runs; ratio = GX throughput / hand throughput, measured
in the same run. Target: the GX path at least 0.3x of the hand-written pass. The script also checks
that the hand pass and GX found the same number of bad rows per check.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

import _env

TARGET = 0.3
DAMAGE_SHARE = 0.005


def damaged(frame, seed: int = 7):
    import numpy as np

    frame = frame.reset_index(drop=True).copy()
    rng = np.random.default_rng(seed)
    n = max(3, int(len(frame) * DAMAGE_SHARE))
    rows = rng.choice(len(frame), size=n, replace=False)
    third = n // 3
    frame.loc[rows[:third], "carrier"] = None
    frame.loc[rows[third:2 * third], "distance"] = -1
    frame.loc[rows[2 * third:], "carrier"] = "ZZ"
    return frame


def month_checks(checks):
    """The day suite made fit for a month: the day-of-month check accepts the month's days."""
    out = []
    for check in checks:
        if check.name == "flights.date_matches_partition" and check.kwargs["column"] == "day":
            check = type(check)(check.name, check.expectation, {"column": "day", "value_set": list(range(1, 32))},
                                check.severity, check.row_level, check.max_bad_share)
        out.append(check)
    return out


def hand_pass(frame, checks) -> dict[str, int]:
    """The same checks in plain pandas: bad row indexes per row-level check, pass/fail for the others."""
    from contrail.quality import checks as suites

    found: dict[str, int] = {}
    columns = set(frame.columns)
    for check in checks:
        kw, key = check.kwargs, f"{check.name}:{check.column}"
        if check.expectation == "ExpectColumnToExist":
            found[key] = int(kw["column"] not in columns)
        elif check.expectation == "ExpectColumnValuesToBeInTypeList":
            kind = suites.FLIGHT_COLUMNS[kw["column"]]
            series = frame[kw["column"]]
            ok = series.dtype.kind in "iu" if kind == "int" else series.dtype.kind in "iuf" if kind == "number" else (
                series.dtype == object or str(series.dtype).startswith("string"))
            found[key] = int(not ok)
        elif check.expectation == "ExpectTableRowCountToBeBetween":
            found[key] = int(not (kw.get("min_value", 0) <= len(frame) <= kw.get("max_value", len(frame))))
        elif check.expectation == "ExpectColumnValuesToNotBeNull":
            found[key] = len(frame.index[frame[kw["column"]].isna()])
        elif check.expectation == "ExpectColumnValuesToBeInSet":
            series = frame[kw["column"]]
            found[key] = len(frame.index[series.notna() & ~series.isin(kw["value_set"])])
        elif check.expectation == "ExpectColumnValuesToBeBetween":
            series = frame[kw["column"]]
            low = series > kw["min_value"] if kw.get("strict_min") else series >= kw["min_value"]
            high = series <= kw["max_value"] if "max_value" in kw else True
            found[key] = len(frame.index[series.notna() & ~(low & high)])
        elif check.expectation == "ExpectCompoundColumnsToBeUnique":
            found[key] = len(frame.index[frame.duplicated(list(kw["column_list"]), keep=False)])
        else:
            raise ValueError(f"no hand-written version of {check.expectation}")
    return found


def gx_counts(outcomes) -> dict[str, int]:
    counts = {}
    for o in outcomes:
        key = f"{o.check.name}:{o.check.column}"
        counts[key] = o.unexpected_count if o.check.row_level else int(not o.success)
    return counts


def inputs(factor: int):
    import pandas as pd

    from contrail import scale
    from contrail.sources.nycflights13 import Nycflights13Source

    source = Nycflights13Source()
    day = dt.date(2013, 1, 15)
    one_day = damaged(scale.scale_flights(source.flights(day), factor, seed=13))
    month = [scale.scale_flights(source.flights(day.replace(day=d)), factor, seed=13 + d) for d in range(1, 32)]
    return day, {"1 day": one_day, "1 month": damaged(pd.concat(month, ignore_index=True))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-spark", action="store_true", help="skip the GX-on-Spark column")
    args = parser.parse_args(argv)
    state = _env.private_env("contrail-bench-quality-")
    report = _env.Report("quality_throughput")
    report.header("Flights suite: GX throughput against a hand-written pandas pass")
    from contrail import storage
    from contrail.quality import checks as suites
    from contrail.quality import gx_engine, spark_gate
    from contrail.sources.nycflights13 import Nycflights13Source
    from contrail.spark import connect

    carriers = list(Nycflights13Source().dimension("airlines")["carrier"])
    validator = gx_engine.Validator()
    rows_out, mismatches = [], []
    try:
        for factor in (1, 10):
            day, batches = inputs(factor)
            for label, frame in batches.items():
                checks = suites.flights(day, carriers, [], "pandas")
                checks = month_checks(checks) if label == "1 month" else checks
                hand_s, hand = _env.timed(lambda: hand_pass(frame, checks), args.runs)
                gx_s, (outcomes, _, _) = _env.timed(lambda: validator.run("bench", frame, checks, "pandas", "bench"), args.runs)
                if gx_counts(outcomes) != hand:
                    mismatches.append(f"SF{factor} {label} pandas")
                row = [f"SF{factor}", label, len(frame), f"{len(frame) / hand_s:,.0f}", f"{len(frame) / gx_s:,.0f}",
                       f"{hand_s / gx_s:.2f}x"]
                if not args.no_spark:
                    path = storage.location(f"bench/sf{factor}-{label.replace(' ', '')}")
                    storage.write_parquet_atomically(frame, path)
                    sdf = spark_gate.read_with_row_ids(storage.spark_uri(f"bench/sf{factor}-{label.replace(' ', '')}"))
                    spark_checks = suites.flights(day, carriers, [], "spark")
                    spark_checks = month_checks(spark_checks) if label == "1 month" else spark_checks
                    sp_s, (sp_out, _, _) = _env.timed(lambda: validator.run("bench", sdf, spark_checks, "spark", "bench"), args.runs)
                    if gx_counts(sp_out) != hand:
                        mismatches.append(f"SF{factor} {label} spark")
                    row += [f"{len(frame) / sp_s:,.0f}", f"{hand_s / sp_s:.2f}x"]
                rows_out.append(row)
        headers = ["scale", "batch", "rows", "hand rows/s", "GX pandas rows/s", "ratio"]
        headers += [] if args.no_spark else ["GX Spark rows/s", "ratio"]
        report.table(headers, rows_out, right=set(range(2, len(headers))))
        report(f"\nratio = GX throughput / hand-written pandas throughput (target >= {TARGET}x); median of {args.runs} runs")
        report("same bad-row counts per check in hand and GX: " + ("yes" if not mismatches else f"NO: {mismatches}"))
    finally:
        connect.stop_server()
        _env.remove(state)
    report.save()
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
