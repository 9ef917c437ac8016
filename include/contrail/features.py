"""Read back the per-day counts that the feature job published, for asset events and checks."""

from __future__ import annotations

from contrail import datasets, storage

COUNT_FIELDS = ("flights_in", "features", "cancelled", "diverted")


def published_counts(days: list[str]) -> dict[str, dict]:
    """Each day's counts from features_counts/dt=<day>/, checking flights_in = features + cancelled + diverted."""
    result = {}
    for day in days:
        frame = storage.read_parquet(storage.location(f"{datasets.FEATURE_COUNTS.path}/dt={day}"))
        if len(frame) != 1:
            raise storage.StorageError(f"expected one counts row for {day}, found {len(frame)}")
        row = {k: int(frame.iloc[0][k]) for k in COUNT_FIELDS}
        if row["flights_in"] != row["features"] + row["cancelled"] + row["diverted"]:
            raise RuntimeError(f"row count mismatch for {day}: {row}")
        result[day] = row
    return result


def stale_days() -> list[str]:
    """Days whose raw flights were landed after (or, on a store with coarse clocks, in the same tick as) their last build.

    Days whose current landing failed its quality gate are left out: they wait for a new landing.

    The lake, not the asset events, decides what an event-triggered run builds: Airflow 3.3 can fold
    events that arrive while a run is queued into that run's queue entry without handing them to
    the run, so a day named only by such an event would otherwise never be built.
    """
    from contrail.quality import ledger

    landed = storage.partition_mtimes(storage.location(datasets.RAW_FLIGHTS.path))
    built = storage.partition_mtimes(storage.location(datasets.FEATURE_COUNTS.path))
    judged = storage.partition_mtimes(storage.location("quality/flights"))
    stale = [day for day, when in landed.items() if day not in built or built[day] <= when]
    # A landing that its quality gate already refused stays refused until it is landed again.
    return sorted(day for day in stale
                  if not (judged.get(day, 0) > landed[day] and (ledger.read_verdict("flights", day) or {}).get("status") == "failed"))
