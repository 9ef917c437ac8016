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
