"""What `make run` prints while it waits: how far the range has got, from the lake and Airflow's runs.

    [contrail] 03:10 elapsed, ~04:40 left | of 31 days: landed 31, gated 24, built 22, scored 15, monitored 12
               | runs: 6 running, 3 queued, 0 failed

A day counts once its stage wrote it after the command started (a second `make run` over the same
range starts from zero again). The estimate of what is left extrapolates the mean of the stages'
completed fractions; it says "estimating" until a first day is through one stage.
"""

from __future__ import annotations

import datetime as dt

STAGES = ("landed", "gated", "built", "scored", "monitored")


def stage_days(days: list[str], since: dt.datetime) -> dict[str, int]:
    """For each stage, how many of `days` it has written since `since` (an aware datetime)."""
    from contrail import datasets, storage
    from contrail.quality import ledger

    wanted, after = set(days), since.timestamp()
    iso = since.isoformat()

    def written(dataset_path: str) -> int:
        return sum(1 for day, when in storage.partition_mtimes(storage.location(dataset_path)).items()
                   if day in wanted and when >= after)

    def verdicts(table: str) -> set[str]:
        return {d for d in days if (ledger.read_verdict(table, d) or {}).get("validated_at", "") >= iso}

    gated = verdicts("flights")
    refused = {d for d in gated if ledger.read_verdict("flights", d)["status"] == "failed"}
    return {"landed": written(datasets.RAW_FLIGHTS.path), "gated": len(gated),
            "built": len(verdicts("features") | refused),  # a refused day is through the build stage: nothing to build
            "scored": written(datasets.PREDICTIONS.path), "monitored": written("monitoring")}


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def line(done: dict[str, int], total: int, runs: dict[str, int], elapsed: float) -> str:
    """One progress line from the stage counts, Airflow's run counts by state and the seconds elapsed."""
    fraction = sum(min(done[s], total) for s in STAGES) / (len(STAGES) * total) if total else 1.0
    left = f"~{_clock(elapsed * (1 - fraction) / fraction)} left" if fraction > 0 else "estimating"
    stages = ", ".join(f"{s} {done[s]}" for s in STAGES)
    flight = ", ".join(f"{runs.get(s, 0)} {s}" for s in ("running", "queued", "failed"))
    return f"[contrail] {_clock(elapsed)} elapsed, {left} | of {total} days: {stages} | runs: {flight}"
