"""`make run`'s progress line: the range's stages read from the lake, and the estimate of the time left."""

from __future__ import annotations

import datetime as dt
import os

from contrail import progress, storage
from contrail.quality import ledger

DAYS = ["2099-01-01", "2099-01-02", "2099-01-03"]  # days no other test writes


def touch(relative: str, when: float | None = None) -> None:
    path = storage.location(relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    if when is not None:
        os.utime(path.path, (when, when))


def verdict(table: str, day: str, status: str, at: dt.datetime) -> None:
    ledger.write_verdict({"table": table, "dt": day, "status": status, "validated_at": at.isoformat(), "critical": []})


def test_a_day_counts_for_a_stage_only_once_written_after_the_command_started():
    since = dt.datetime.now(dt.timezone.utc)
    before, after = since - dt.timedelta(hours=1), since + dt.timedelta(seconds=1)
    touch(f"raw/flights/dt={DAYS[0]}/part-0.parquet", before.timestamp())  # an earlier run's
    touch(f"raw/flights/dt={DAYS[1]}/part-0.parquet")
    touch(f"raw/flights/dt={DAYS[2]}/part-0.parquet")
    verdict("flights", DAYS[0], "passed", before)
    verdict("flights", DAYS[1], "passed", after)
    verdict("flights", DAYS[2], "failed", after)  # refused: through the build stage with nothing to build
    verdict("features", DAYS[1], "passed", after)
    touch(f"predictions/dt={DAYS[1]}/part-0.parquet")
    touch(f"monitoring/dt={DAYS[1]}/figures.json", before.timestamp())

    done = progress.stage_days(DAYS, since)
    assert done == {"landed": 2, "gated": 2, "built": 2, "scored": 1, "monitored": 0}


def test_the_line_estimates_the_time_left_from_the_stages_done():
    done = {"landed": 4, "gated": 4, "built": 2, "scored": 0, "monitored": 0}  # 10 of 20 stage-days: half way
    text = progress.line(done, 4, {"running": 2, "queued": 1, "success": 9}, elapsed=90)
    assert text.startswith("[contrail] 01:30 elapsed, ~01:30 left | of 4 days: landed 4, gated 4, built 2")
    assert text.endswith("| runs: 2 running, 1 queued, 0 failed")
    nothing = dict.fromkeys(progress.STAGES, 0)
    assert "estimating" in progress.line(nothing, 365, {}, elapsed=5)
    assert "1:01:40 elapsed" in progress.line(nothing, 365, {}, elapsed=3700)
