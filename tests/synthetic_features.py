"""Synthetic feature partitions with a known signal, written to the lake with passing quality verdicts.

`signal` sets what the label depends on, so tests control how good a model trained on a day can be:
"full" (hour, precipitation and carrier), "hour" (the hour only: a weaker model), "none"
(labels are coin flips: no model can beat chance) or "zero" (no flight is late: one class only).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from contrail import datasets, storage
from contrail.quality import ledger
from contrail.training import model

CARRIERS = {"UA": 0.8, "AA": -0.6, "DL": 0.0, "B6": 0.4}
ORIGINS = ("EWR", "JFK", "LGA")


def make_day(day: str, signal: str = "full", rows: int = 600, seed: int = 0, shift: bool = False) -> pd.DataFrame:
    """One day; `shift` moves the inputs (later hours, wet, hot, another carrier mix) but not how they make delays."""
    date = dt.date.fromisoformat(day)
    rng = np.random.default_rng(seed + date.toordinal())
    hour = rng.integers(14, 23, rows) if shift else rng.integers(5, 23, rows)
    precip = rng.exponential(0.05, rows) * (rng.random(rows) < (0.9 if shift else 0.3))
    carrier = rng.choice(list(CARRIERS), rows, p=[0.7, 0.1, 0.1, 0.1] if shift else None)
    logit = {"full": -1.6 + 0.22 * (hour - 12) + 12 * precip + np.vectorize(CARRIERS.get)(carrier),
             "hour": -1.6 + 0.22 * (hour - 12), "none": np.zeros(rows), "zero": np.full(rows, -50.0)}[signal]
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype("int32")
    frame = pd.DataFrame({
        "dt": day, "year": date.year, "month": date.month, "day": date.day, "carrier": carrier,
        "flight": np.arange(rows, dtype="int64"), "tailnum": "N1", "origin": rng.choice(ORIGINS, rows),
        "dest": rng.choice(["ORD", "ATL", "LAX", "BOS"], rows), "sched_dep_time": hour * 100,
        "time_hour": f"{day} 00:00:00", "hour": hour, "minute": rng.integers(0, 60, rows),
        "weekday": date.isoweekday() % 7 + 1, "day_of_year": date.timetuple().tm_yday,
        "distance": rng.uniform(100, 2500, rows), "plane_age": rng.uniform(0, 30, rows), "seats": 150.0, "engines": 2.0,
        "temp": rng.normal(80 if shift else 40, 10, rows), "dewp": rng.normal(30, 10, rows), "humid": rng.uniform(30, 100, rows),
        "wind_dir": rng.uniform(0, 360, rows), "wind_speed": rng.uniform(0, 30, rows), "wind_gust": np.nan,
        "precip": precip, "pressure": rng.normal(1015, 8, rows), "visib": 10.0,
        "arr_delay": np.where(label == 1, 30.0, -5.0), "label": label,
    })
    for column in model.NUMERIC:
        frame[column] = frame[column].astype("float64") if column not in ("hour", "minute", "weekday", "month", "day_of_year") else frame[column].astype("int32")
    return frame


def write_days(start: str, count: int, signal="full", status: str = "passed", rows: int = 600, shift: bool = False) -> list[str]:
    """Write `count` days from `start`; `signal` is one value or one per day. Returns the days."""
    first = dt.date.fromisoformat(start)
    days = [f"{first + dt.timedelta(days=i):%Y-%m-%d}" for i in range(count)]
    signals = [signal] * count if isinstance(signal, str) else list(signal)
    for day, sig in zip(days, signals):
        frame = make_day(day, sig, rows, shift=shift)
        storage.write_parquet_atomically(frame.drop(columns=["dt"]), storage.location(datasets.FEATURES.partition(dt.date.fromisoformat(day))))
        ledger.write_verdict({"table": "features", "dt": day, "status": status, "rows_in": rows,
                              "critical": ["features.label_share"] if status == "failed" else [], "warnings": []})
    return days
