"""Quality gates: validate a day, quarantine the rows that fail, publish the rest, record the verdict.

For each raw table and day (flights, weather):

* the suite of `checks` runs with Great Expectations on pandas, or on Spark for large days;
* rows failing a row-level check go to `quarantine/<table>/dt=<day>/` with a `failed_checks`
  column naming every check they failed; the other rows go to `validated/<table>/dt=<day>/`, the
  feature job's input; the gate asserts rows in = rows passed + rows quarantined;
* of rows equal in every column one copy goes on and the extra copies are quarantined as
  `<table>.duplicate_row`; the suite runs on the rows that remain, so only rows that share a key with
  different content fail the key's uniqueness check (all of them);
* a critical failure publishes nothing for the day (the raw partition stays as landed, and an
  earlier validated partition is withdrawn) and the verdict says `failed`; weather is auxiliary: a
  day whose weather failed publishes an empty validated weather partition and goes on *degraded*
  (`contrail.quality.degraded`); only failed flights stop a day;
* the GX result JSON goes to `reports/quality/<table>/dt=<day>/result.json`, Data Docs HTML to
  `reports/quality/docs/` (local data roots), and the verdict to the ledger.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from pathlib import Path

from contrail import datasets, storage
from contrail.failures import Deterministic
from contrail.quality import checks as suites
from contrail.quality import degraded, ledger

log = logging.getLogger(__name__)
FAILED_CHECKS = "failed_checks"
SPARK_ROWS_DEFAULT = 1_000_000


class QualityFailed(Deterministic, RuntimeError):
    """A day failed a critical check; the message names the checks, columns and counts."""


def is_critical(outcome) -> bool:
    if outcome.check.row_level:
        return outcome.evaluated and outcome.bad_share > outcome.check.max_bad_share
    return not outcome.success and outcome.check.severity == "critical"


def engine_for(rows: int) -> str:
    """`CONTRAIL_QUALITY_ENGINE`: pandas, spark, or auto (Spark from CONTRAIL_QUALITY_SPARK_ROWS rows)."""
    choice = os.environ.get("CONTRAIL_QUALITY_ENGINE", "auto").strip().lower()
    if choice not in ("auto", "pandas", "spark"):
        raise ValueError(f"CONTRAIL_QUALITY_ENGINE must be auto, pandas or spark, not {choice!r}")
    if choice != "auto":
        return choice
    return "spark" if rows >= int(os.environ.get("CONTRAIL_QUALITY_SPARK_ROWS", SPARK_ROWS_DEFAULT)) else "pandas"


def validator():
    """A GX context keeping results and Data Docs under reports/quality/ when the lake is local."""
    from contrail.quality.gx_engine import Validator

    root = storage.root()
    if not storage.is_local(root):
        return Validator()  # Data Docs are built for local lakes; result JSON is written everywhere
    reports = Path(root.path) / "reports" / "quality"
    return Validator(project_dir=reports / "gx", docs_dir=reports / "docs")


def _raw(table: str, day: dt.date):
    return storage.location(datasets.BY_NAME[f"raw_{table}"].partition(day))


def _suite(table: str, day: dt.date, engine: str) -> list:
    if table == "weather":
        return suites.weather(day, engine)
    airlines = storage.read_parquet(storage.location(datasets.RAW_AIRLINES.partition(day)))
    recent = []
    for weeks in range(1, 5):
        verdict = ledger.read_verdict("flights", f"{day - dt.timedelta(weeks=weeks)}")
        if verdict and verdict["status"] != "failed":
            recent.append(int(verdict["rows_in"]))
    return suites.flights(day, list(airlines["carrier"].dropna()), recent, engine)


def _coverage(frame, day: dt.date):
    """One row: per origin, the distinct hours of weather the day has; and how many the day has (23-25)."""
    import pandas as pd
    from zoneinfo import ZoneInfo

    local = ZoneInfo("America/New_York")
    start, end = (dt.datetime.combine(d, dt.time(), tzinfo=local).astimezone(dt.timezone.utc)
                  for d in (day, day + dt.timedelta(days=1)))
    expected = int((end - start).total_seconds() // 3600)
    present = frame.dropna(subset=["origin", "time_hour"]).groupby("origin")["time_hour"].nunique()
    return pd.DataFrame([{origin: int(present.get(origin, 0)) for origin in suites.ORIGINS}]), expected


def gate_raw(table: str, day: dt.date, gx=None, engine: str | None = None) -> dict:
    """Run the gate of raw `table` ("flights" or "weather") for `day`; return and record its verdict."""
    from contrail.quality import spark_gate

    source = _raw(table, day)
    gx = gx or validator()
    try:
        rows = storage.parquet_rows(source)
        engine = engine or engine_for(rows)
        if engine == "spark":
            frame = spark_gate.read_with_row_ids(storage.spark_uri(datasets.BY_NAME[f"raw_{table}"].partition(day)))
        else:
            frame = storage.read_parquet(source).reset_index(drop=True)
            if len(frame) != rows:
                raise storage.UnreadableFile(f"{source}: its footers say {rows} rows, its data holds {len(frame)}")
    except (storage.MissingPartition, storage.UnreadableFile) as exc:
        # an input that cannot be read is a failed gate, recorded as such: the day's earlier verdict and
        # validated rows must not outlive the file they came from (a store that broke off is retried instead)
        verdict = _verdict(table, day, engine or "pandas", [], 0, {"error": str(exc)}, None)
        verdict.update(status="failed", critical=[f"unreadable input: {exc}"])
        return _record(verdict)
    run_name = f"{table}-{day}"
    checks = _suite(table, day, engine)
    distinct, own = _own_checks(frame, table, engine, rows)
    outcomes, result, docs = gx.run(f"raw_{table}", distinct, checks, engine, run_name)
    outcomes += own
    if table == "weather" and {"origin", "time_hour"} <= set(frame.columns):
        coverage, expected = _coverage(distinct if engine == "pandas" else spark_gate.coverage_input(distinct), day)
        more, result["coverage"], _ = gx.run("raw_weather_coverage", coverage, suites.weather_coverage(expected), "pandas", run_name)
        outcomes += more
    verdict = _verdict(table, day, engine, outcomes, rows, result, docs)
    if verdict["status"] != "failed":
        bad = _bad_rows(outcomes)
        split = spark_gate.split if engine == "spark" else _split_pandas
        passed, quarantined = split(frame, bad, table, day)
        verdict.update(rows_passed=passed, rows_quarantined=quarantined)
        if passed + quarantined != rows:
            raise RuntimeError(f"{table} dt={day}: rows in {rows} != passed {passed} + quarantined {quarantined}")
    return _record(verdict)


def _record(verdict: dict) -> dict:
    """Write a raw table's verdict to the ledger and log it; a failed day publishes nothing (its earlier
    validated and quarantined rows are withdrawn first, so no reader pairs them with the new verdict)."""
    if verdict["status"] == "failed":
        day = dt.date.fromisoformat(verdict["dt"])
        validated = storage.location(datasets.VALIDATED[verdict["table"]].partition(day))
        storage.remove_partition(storage.location(datasets.QUARANTINE[verdict["table"]].partition(day)))
        if verdict["table"] == "weather":  # auxiliary: no row passed, swapped in whole (contrail.quality.degraded)
            storage.write_parquet_atomically(no_weather(), validated)
        else:
            storage.remove_partition(validated)
    ledger.write_verdict(verdict)
    log.info("%s", summary_line(verdict))
    return verdict


def no_weather():
    """An empty table of validated weather (the raw columns and types): what passed the gate of a day whose weather
    failed it. The feature job reads it like any day's and finds no reading for any flight."""
    import pyarrow as pa

    types = {"int": pa.int64(), "number": pa.float64(), "str": pa.string()}
    return pa.schema([(name, types[kind]) for name, kind in suites.WEATHER_COLUMNS.items()]).empty_table()


def _own_checks(frame, table: str, engine: str, rows: int):
    """The checks the gate runs itself, not GX: exact copies, and no input column that the quarantine's own column
    would overwrite. Returns the rows GX validates (one copy of each) and the two outcomes."""
    from contrail.quality.gx_engine import Outcome

    distinct, copies = _exact_copies(frame, table, engine, rows)
    clash = [c for c in frame.columns if c == FAILED_CHECKS]
    return distinct, [copies, Outcome(suites.reserved_columns(table, (FAILED_CHECKS,)), not clash, True, None, 0, [], clash or None)]


def _exact_copies(frame, table: str, engine: str, rows: int):
    """The rows of `frame` that remain once each row repeated in every column keeps one copy, and the outcome
    of `<table>.duplicate_row` naming the extra copies (index labels, or ROW_IDs on Spark)."""
    from contrail.quality import spark_gate
    from contrail.quality.gx_engine import Outcome

    distinct, extra = spark_gate.exact_copies(frame) if engine == "spark" else _exact_copies_pandas(frame)
    return distinct, Outcome(suites.duplicate_row(table), not extra, True, rows, len(extra), extra, None)


def _exact_copies_pandas(frame):
    try:
        extra = frame.duplicated(keep="first")
    except TypeError:  # list and struct columns hold arrays and dicts, which do not hash: compare their text
        extra = frame.apply(lambda column: column.map(_comparable) if column.dtype == object else column).duplicated(keep="first")
    return frame[~extra], frame.index[extra.to_numpy()].tolist()


def _comparable(value) -> str:
    return repr(value.tolist() if hasattr(value, "tolist") else value)


def _bad_rows(outcomes) -> dict:
    bad: dict = {}
    for o in outcomes:
        if o.check.row_level and not o.success:
            for row in o.bad_rows:
                bad.setdefault(row, set()).add(o.check.name)
    return {row: ",".join(sorted(names)) for row, names in bad.items()}


def _split_pandas(frame, bad: dict, table: str, day: dt.date) -> tuple[int, int]:
    rejected = frame.loc[sorted(bad)].assign(**{FAILED_CHECKS: [bad[i] for i in sorted(bad)]})
    passed = storage.write_parquet_atomically(frame.drop(index=list(bad)), storage.location(datasets.VALIDATED[table].partition(day)))
    quarantine = storage.location(datasets.QUARANTINE[table].partition(day))
    if len(rejected):
        return passed, storage.write_parquet_atomically(rejected, quarantine)
    storage.remove_partition(quarantine)
    return passed, 0


def _verdict(table: str, day: dt.date, engine: str, outcomes, rows: int, result: dict, docs) -> dict:
    critical = [o.message() for o in outcomes if is_critical(o)]
    warnings = [o.message() for o in outcomes if not o.success and not is_critical(o) and o.evaluated]
    report = storage.location(f"reports/quality/{table}/dt={day}/result.json")
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(result, default=str))
    status = "failed" if critical else "warning" if warnings else "passed"
    return {"table": table, "dt": f"{day}", "status": status, "engine": engine, "rows_in": rows,
            "rows_passed": 0, "rows_quarantined": 0, "critical": critical, "warnings": warnings,
            "checks": len(outcomes), "result": str(report), "docs": docs,
            "validated_at": dt.datetime.now(dt.timezone.utc).isoformat()}


def summary_line(verdict: dict) -> str:
    """One line for the task log: table, day, status, counts, and what failed."""
    line = (f"quality {verdict['table']} dt={verdict['dt']}: {verdict['status'].upper()} "
            f"in={verdict['rows_in']} passed={verdict['rows_passed']} quarantined={verdict['rows_quarantined']} "
            f"checks={verdict['checks']} engine={verdict['engine']}")
    if verdict["critical"]:
        line += " | CRITICAL: " + "; ".join(verdict["critical"])
    if verdict["warnings"]:
        line += " | warnings: " + "; ".join(verdict["warnings"])
    return line + f" | report {verdict['docs'] or verdict['result']}"


def gate_features(day: dt.date, gx=None) -> dict:
    """The features of `day`: model inputs complete, label share sane, every validated flight accounted for."""
    from contrail.features import published_counts

    raw = ledger.read_verdict("flights", f"{day}")
    if raw is None or raw["status"] == "failed":
        raise QualityFailed(f"features dt={day} were built from flights that did not pass their gate ({raw and raw['status']})")
    counts = published_counts([f"{day}"])[f"{day}"]
    expected = raw["rows_in"] - raw["rows_quarantined"] - counts["cancelled"] - counts["diverted"]
    frame = storage.read_parquet(storage.location(datasets.FEATURES.partition(day))).reset_index(drop=True)
    outcomes, result, docs = (gx or validator()).run("features", frame, suites.features(expected), "pandas", f"features-{day}")
    verdict = _verdict("features", day, "pandas", outcomes, len(frame), result, docs)
    verdict["missing_shares"] = degraded.shares(frame)
    verdict["degraded"] = degraded.reasons(frame, ledger.read_verdict("weather", f"{day}"))
    if verdict["degraded"] and verdict["status"] == "passed":
        verdict["status"] = "warning"
    verdict["warnings"] += [f"degraded: {why}" for why in verdict["degraded"]]
    if counts["flights_in"] != raw["rows_passed"]:
        verdict["critical"].append(f"features dt={day}: the job read {counts['flights_in']} flights, "
                                   f"but {raw['rows_passed']} passed the flights gate")
        verdict["status"] = "failed"
    verdict["rows_passed"] = 0 if verdict["status"] == "failed" else len(frame)
    ledger.write_verdict(verdict)
    log.info("%s", summary_line(verdict))
    return verdict
