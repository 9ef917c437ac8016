"""The training window: which feature days a model learns from, how they split by time, and their lineage.

A window is a list of consecutive-or-not 2013 days whose features partition exists and passed its
quality gate. It splits by time: the latest days are the holdout (the promotion gate scores on
them), the days before them the validation set (tuning, operating threshold), the rest training.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from contrail import datasets, storage
from contrail.dates import parse_day
from contrail.failures import Deterministic
from contrail.quality import ledger

log = logging.getLogger(__name__)
MIN_DAYS = 7  # fewer usable days than this and a manual window is refused: too little to split by time
HOLDOUT_SHARE = 0.15
VALIDATION_SHARE = 0.15


class WindowError(Deterministic, ValueError):
    """The window cannot be trained on; the message says which days and why."""


class WindowTooSmall(WindowError):
    """Not enough usable days yet: a scheduled run skips rather than fails."""


@dataclass(frozen=True)
class Split:
    train: list[str]
    validation: list[str]
    holdout: list[str]

    @property
    def days(self) -> list[str]:
        return [*self.train, *self.validation, *self.holdout]

    def as_dict(self) -> dict:
        return {"train": self.train, "validation": self.validation, "holdout": self.holdout}


def built_days() -> list[str]:
    """Every day with a published features partition."""
    return sorted(storage.partition_mtimes(storage.location(datasets.FEATURES.path)))


def explicit(start: str, end: str | None) -> list[str]:
    """Every day from start to end: each must have features that passed quality, or WindowError names them."""
    first, last = parse_day(start, "param start"), parse_day(end or start, "param end" if end else "param start")
    if last < first:
        raise WindowError(f"window end {last} is before its start {first}")
    days = [f"{first + dt.timedelta(days=i):%Y-%m-%d}" for i in range((last - first).days + 1)]
    built = set(built_days())
    missing = [d for d in days if d not in built]
    if missing:
        raise WindowError(f"no features for {len(missing)} day(s) of the window {days[0]}..{days[-1]}: "
                          f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}; build them first")
    try:
        ledger.require_usable("features", days)
    except ledger.QualityGateError as exc:
        raise WindowError(f"the window {days[0]}..{days[-1]} holds days that failed quality: {exc}") from exc
    return without_degraded(days)


def without_degraded(days: list[str]) -> list[str]:
    """`days` less the degraded ones (contrail.quality.degraded), named in the log, unless CONTRAIL_TRAIN_ON_DEGRADED."""
    from contrail.quality import degraded
    from contrail.training.schedule import Policy

    if Policy.from_settings().train_on_degraded:
        return days
    left_out = {d: degraded.of(d) for d in days}
    left_out = {d: why for d, why in left_out.items() if why}
    for day, why in left_out.items():
        log.warning("training leaves out %s, degraded: %s (CONTRAIL_TRAIN_ON_DEGRADED=true keeps it)", day, "; ".join(why))
    return [d for d in days if d not in left_out]


def split(days: list[str], min_days: int = MIN_DAYS) -> Split:
    """Train / validation / holdout by time; the holdout is the latest days."""
    days = sorted(days)
    if not days:
        raise WindowTooSmall("the training window is empty: no day has features that passed quality")
    if len(days) < min_days:
        raise WindowTooSmall(f"the training window holds {len(days)} usable day(s) ({days[0]}..{days[-1]}); "
                             f"at least {min_days} are needed to split train / validation / holdout by time")
    holdout = max(1, round(len(days) * HOLDOUT_SHARE))
    validation = max(1, round(len(days) * VALIDATION_SHARE))
    return Split(days[:-holdout - validation], days[-holdout - validation:-holdout], days[-holdout:])


def load(days: list[str]):
    """The features rows of `days` in one frame (day order), with their `dt`."""
    import pandas as pd

    frames = []
    for day in days:
        frame = storage.read_parquet(storage.location(datasets.FEATURES.partition(parse_day(day))))
        frames.append(frame.assign(dt=day))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def lineage(days: list[str]) -> dict[str, dict]:
    """Per day: the features partition, its content digest and row count, and the quality verdicts it rests on."""
    out = {}
    for day in days:
        partition = storage.location(datasets.FEATURES.partition(parse_day(day)))
        verdicts = {table: ledger.read_verdict(table, day) or {} for table in ("flights", "weather", "features")}
        out[day] = {
            "partition": str(partition),
            "sha256": storage.partition_digest(partition),
            "rows": storage.parquet_rows(partition),
            "quality": {t: {"status": v.get("status", "missing"), "verdict": str(ledger.verdict_path(t, day)),
                            "result": v.get("result"), "warnings": v.get("warnings", [])} for t, v in verdicts.items()},
        }
    return out
