"""Ingestion and features for three real days through Airflow itself (dag.test), on the local profile."""

import datetime as dt
import hashlib
import os
from pathlib import Path

import pytest

from contrail.sources.nycflights13 import Nycflights13Source

pytestmark = [pytest.mark.airflow, pytest.mark.spark]

DAYS = ["2013-03-09", "2013-03-10", "2013-03-11"]  # 03-10 is the spring DST change
UTC = dt.timezone.utc


def lake() -> Path:
    return Path(os.environ["CONTRAIL_DATA_ROOT"])


def run_ingest(dagbag, day: str):
    return dagbag.get_dag("contrail_ingest").test(logical_date=dt.datetime.fromisoformat(day).replace(tzinfo=UTC))


def run_features(dagbag, start: str, end: str):
    return dagbag.get_dag("contrail_features").test(run_conf={"start": start, "end": end})


def features_partition(day: str):
    import pandas as pd

    return pd.read_parquet(lake() / "features" / f"dt={day}")


def content_digest(day: str) -> str:
    """Digest of a partition's rows in a canonical order: equal digests mean the same rows."""
    frame = features_partition(day)
    frame = frame.sort_values(["origin", "carrier", "flight", "sched_dep_time"]).reset_index(drop=True)
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()


def raw_digests() -> dict:
    return {str(p.relative_to(lake())): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((lake() / "raw").rglob("*")) if p.is_file()}


def temporary_files() -> list:
    marks = ("_staging", "_trash", ".spark-staging", "_temporary", ".crc")
    return [str(p) for p in lake().rglob("*") if any(m in p.name for m in marks)]


@pytest.fixture(scope="module")
def pipeline(dagbag, spark):
    ingest_runs = [run_ingest(dagbag, d) for d in DAYS]
    features_run = run_features(dagbag, DAYS[0], DAYS[-1])
    return ingest_runs, features_run


def test_three_days_run_through_airflow_and_account_for_every_flight(pipeline):
    ingest_runs, features_run = pipeline
    assert [r.state for r in ingest_runs] == ["success"] * 3
    assert features_run.state == "success"
    source = Nycflights13Source()
    for day in DAYS:
        flights = source.flights(dt.date.fromisoformat(day))
        cancelled = int(flights["dep_time"].isna().sum())
        diverted = int((flights["dep_time"].notna() & flights["arr_delay"].isna()).sum())
        features = features_partition(day)
        assert len(flights) == len(features) + cancelled + diverted, day
        assert features["label"].notna().all() and set(features["label"]) == {0, 1}
        assert features[["carrier", "flight", "origin", "sched_dep_time"]].duplicated().sum() == 0


def test_the_features_event_carries_each_days_counts(pipeline):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        extra = session.scalars(
            select(AssetEvent.extra).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == "features").order_by(AssetEvent.id.desc())
        ).first()
        flights_events = session.scalars(
            select(AssetEvent.extra).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == "raw_flights", AssetEvent.source_dag_id == "contrail_ingest")
        ).all()
    assert extra["days"] == DAYS
    for day in DAYS:
        c = extra["counts"][day]
        assert c["flights_in"] == c["features"] + c["cancelled"] + c["diverted"] == len(features_partition(day)) + c["cancelled"] + c["diverted"]
    assert {e["dt"] for e in flights_events} >= set(DAYS)


def test_rerunning_a_day_replaces_its_partitions_exactly(pipeline, dagbag):
    raw_before, features_before = raw_digests(), {d: content_digest(d) for d in DAYS}
    files_before = sorted(p.name for p in (lake() / "features").rglob("*.parquet"))
    assert run_ingest(dagbag, DAYS[1]).state == "success"
    assert run_features(dagbag, DAYS[1], DAYS[1]).state == "success"
    assert raw_digests() == raw_before
    assert {d: content_digest(d) for d in DAYS} == features_before
    assert len(sorted(p.name for p in (lake() / "features").rglob("*.parquet"))) == len(files_before)
    assert temporary_files() == []


def test_one_job_over_a_range_publishes_what_per_day_jobs_publish(pipeline, dagbag):
    ranged = {d: content_digest(d) for d in DAYS}
    for day in DAYS:
        assert run_features(dagbag, day, day).state == "success"
    assert {d: content_digest(d) for d in DAYS} == ranged


def failing_run(dag, capfd, **kwargs):
    """Run `dag` with its own retries (2, with back-off): a failure a retry cannot change must fail at once."""
    run = dag.test(**kwargs)
    failed = [ti for ti in run.get_task_instances() if ti.state == "failed"]
    assert failed and all(ti.max_tries >= 2 and ti.try_number == 1 for ti in failed), \
        [(ti.task_id, ti.try_number, ti.max_tries) for ti in failed]
    return run, capfd.readouterr()


def test_a_logical_date_without_data_fails_the_run_and_lands_nothing(pipeline, dagbag, capfd, monkeypatch):
    monkeypatch.setenv("CONTRAIL_REPLAY_YEARS", "0")
    run, out = failing_run(dagbag.get_dag("contrail_ingest"), capfd, logical_date=dt.datetime(2026, 11, 23, tzinfo=UTC))
    assert run.state == "failed"
    assert "no source data for 2026-11-23" in out.out + out.err
    assert not list(lake().glob("raw/*/dt=2026-11-23"))


def test_features_for_a_day_never_ingested_fail_and_publish_nothing(pipeline, dagbag, capfd):
    run, out = failing_run(dagbag.get_dag("contrail_features"), capfd, run_conf={"start": "2013-04-01", "end": "2013-04-01"})
    assert run.state == "failed"
    assert "missing partition" in out.out + out.err and "raw/flights/dt=2013-04-01" in out.out + out.err
    assert not (lake() / "features" / "dt=2013-04-01").exists()
    assert temporary_files() == []


def test_a_critical_quality_failure_stops_only_that_day(pipeline, dagbag, capfd):
    import pandas as pd

    bad, good = "2013-03-26", "2013-03-27"  # days no other test of the session writes
    for day in (bad, good):
        assert run_ingest(dagbag, day).state == "success"
    broken = pd.read_parquet(lake() / "raw" / "flights" / f"dt={bad}").drop(columns=["dest"])
    broken.to_parquet(next((lake() / "raw" / "flights" / f"dt={bad}").glob("*.parquet")), index=False)

    run, out = failing_run(dagbag.get_dag("contrail_features"), capfd, run_conf={"start": bad, "end": good})
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "failed" and states["quality_verdict"] == "failed"
    assert all(states[t] == "success" for t in ("check_raw", "build_features.submit_job", "check_features", "publish_features"))
    assert "flights.column_exists on dest: the column is missing" in out.out + out.err
    assert (lake() / "features" / f"dt={good}").exists() and not (lake() / "features" / f"dt={bad}").exists()

    run, out = failing_run(dagbag.get_dag("contrail_features"), capfd, run_conf={"start": bad, "end": bad})
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["check_raw"] == "failed"
    assert states["build_features.submit_job"] == states["check_features"] == states["publish_features"] == "upstream_failed"
    assert not (lake() / "features" / f"dt={bad}").exists() and not (lake() / "validated" / "flights" / f"dt={bad}").exists()


def test_a_failed_spark_job_ends_the_run_red_even_when_every_gate_passed(pipeline, dagbag, capfd):
    """The leaf quality_verdict runs whatever happened upstream: the ledger says passed, the job failed (at once: a
    missing partition), the run fails."""
    from contrail.quality import ledger

    day = DAYS[2]
    planes, aside = lake() / "raw" / "planes" / f"dt={day}", lake() / "aside"
    planes.rename(aside)  # planes are read by the job, not gated: the gates pass, the job cannot find them
    try:
        run, _ = failing_run(dagbag.get_dag("contrail_features"), capfd, run_conf={"start": day, "end": day})
    finally:
        aside.rename(planes)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["check_raw"] == "success" and states["build_features.submit_job"] == "failed"
    assert run.state == "failed" and states["quality_verdict"] == "failed"
    assert states["check_features"] == states["publish_features"] == "upstream_failed"
    # the verdict's ledger says every gate passed: the leaf failed on the task states alone
    assert all(ledger.read_verdict(t, day)["status"] != "failed" for t in ("flights", "weather"))
