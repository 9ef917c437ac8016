"""Degraded days: what a day lacks of its auxiliary inputs (weather, planes), measured on its features.

Flights are the primary input: a broken flights feed stops its day. Weather and planes are auxiliary:
a flight whose joins find no weather reading (its origin, its scheduled UTC hour) or no plane record
(its tail number) keeps its features row with nulls there, and the row's `degraded` column names what
it lacks ("weather", "plane", comma-separated; "" when complete; written by
spark_jobs/build_features.py). A day whose weather failed its gate publishes an empty validated
weather partition, so each of its flights says "weather".

A day is *degraded* when its weather gate failed, or when the share of its flights lacking an input
is over that input's limit (`CONTRAIL_DEGRADED_WEATHER_SHARE`, `CONTRAIL_DEGRADED_PLANE_SHARE`). The
features verdict lists the reasons under `degraded`; scoring copies each row's mark onto its
prediction and the day's reasons into its manifest; monitoring shows the day without judging it (its
drift is the missing input's, not the world's); scheduled and manual trainings leave it out unless
`CONTRAIL_TRAIN_ON_DEGRADED=true` (`contrail.training.schedule.Policy`).

The limits come from the real 2013 data. Flights without weather: 0 % of a day at the median and
8.2 % at the 99th percentile; over 10 % on three days (08-22 13.5 %, 12-30 16.2 %, and 12-31 100 %:
its weather feed is empty). Flights without a plane record: 12-18 % of every day (two carriers' tail
numbers are mostly absent from the planes table), so that limit sits well above the normal share.
"""

from __future__ import annotations

import os

from contrail.config import ConfigError

COLUMN = "degraded"
INPUTS = ("weather", "plane")
DEFAULT_LIMITS = {"weather": 0.10, "plane": 0.30}


def limits(environ=None) -> dict[str, float]:
    """The share of a day's flights that may lack each input before the day is degraded (0..1, checked)."""
    environ = os.environ if environ is None else environ
    out = dict(DEFAULT_LIMITS)
    for name in INPUTS:
        key = f"CONTRAIL_DEGRADED_{name.upper()}_SHARE"
        text = environ.get(key, "").strip()
        if not text:
            continue
        try:
            out[name] = float(text)
        except ValueError:
            raise ConfigError(f"{key}={text!r} is not a number: say a share between 0 and 1 "
                              f"(unset it for the default {DEFAULT_LIMITS[name]})") from None
        if not 0 <= out[name] <= 1:
            raise ConfigError(f"{key}={text} must be a share between 0 and 1")
    return out


def shares(frame) -> dict[str, float]:
    """Per auxiliary input, the share of the features rows that lack it (0 for an empty day)."""
    if COLUMN not in frame.columns or frame.empty:
        return dict.fromkeys(INPUTS, 0.0)
    marks = frame[COLUMN].fillna("").astype(str).str.split(",")
    return {name: float(marks.map(lambda m, name=name: name in m).mean()) for name in INPUTS}


def reasons(frame, weather_verdict: dict | None, allowed: dict[str, float] | None = None) -> list[str]:
    """Why the day whose features are `frame` is degraded (empty: it is not), naming the input, the share and the limit."""
    allowed = allowed or limits()
    out = []
    failed = (weather_verdict or {}).get("status") == "failed"
    if failed:
        why = "; ".join(weather_verdict.get("critical") or ["?"])
        out.append(f"weather: its quality gate failed ({why[:300]}); no flight of the day has weather")
    for name, share in shares(frame).items():
        if (name == "weather" and failed) or share <= allowed[name]:
            continue
        out.append(f"{name}: {share:.1%} of the day's {len(frame)} flights lack it, over the limit of {allowed[name]:.0%} "
                   f"(CONTRAIL_DEGRADED_{name.upper()}_SHARE)")
    return out


def of(day: str) -> list[str]:
    """The degraded reasons of a day's features verdict (empty: complete, or not gated yet)."""
    from contrail.quality import ledger

    return list((ledger.read_verdict("features", day) or {}).get("degraded") or [])
