"""The retraining policy: on which data dates a scheduled training runs, which days it learns from,
and which model scores a day. A function of the data and the policy, never of when events arrived.

The walk goes through the settled days in date order. The first training is due on the first day
whose window (the usable days of the `window_days` calendar days ending on it) holds `min_days`.
After a training due on day L, day D is due when
- the last model is `max_age_days` data days old (D - L >= max_age_days; 0: never by age), or
- D's monitoring asked for retraining (an alarm on the thresholds the scoring model calibrated)
  and D is past the cooldown (D - L >= cooldown_days, doubled for each training the gate refused in a
  row since the last promotion, up to max_age_days: `alarm_cooldown`),
and its window holds `min_days` usable days. A training due on D learns from D's window whatever
else the lake holds, and its model scores the days after D (`as_of`).

Every input is a fact about days, so a nightly history and a backfill from scratch (one run at a
time or four) walk the same way. What the walk cannot know yet, it waits for: a day not settled
(its features neither built nor refused), or an alarm that the day's final scoring has not been
judged for (the walk stops there, `Walk.waiting` says why).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Callable

from contrail.config import ConfigError

GAP_GRACE_DAYS = 7  # a day with nothing landed counts as missing once a day this much later is settled


@dataclass(frozen=True)
class Policy:
    window_days: int = 28
    max_age_days: int = 28
    min_days: int = 7
    cooldown_days: int = 7
    alarms: bool = True  # alarms on calibrated thresholds can make a day due
    start: str | None = None  # no training is due before this data date (the windows may reach back before it)
    train_on_degraded: bool = False  # degraded days (contrail.quality.degraded) count as usable
    backoff: bool = True  # each refused training in a row doubles the cooldown before an alarm can make a day due

    @classmethod
    def from_settings(cls, environ=None) -> "Policy":
        """CONTRAIL_WINDOW_DAYS, CONTRAIL_RETRAIN_MAX_AGE_DAYS, CONTRAIL_MIN_WINDOW_DAYS, CONTRAIL_RETRAIN_COOLDOWN_DAYS,
        CONTRAIL_RETRAIN_ON_ALARM, CONTRAIL_TRAIN_ON_DEGRADED and CONTRAIL_RETRAIN_BACKOFF (true/false),
        CONTRAIL_SCHEDULE_START (YYYY-MM-DD): the defaults above where unset."""
        environ = os.environ if environ is None else environ
        values = {}
        for key, name, low in (("window_days", "CONTRAIL_WINDOW_DAYS", 3), ("max_age_days", "CONTRAIL_RETRAIN_MAX_AGE_DAYS", 0),
                               ("min_days", "CONTRAIL_MIN_WINDOW_DAYS", 3), ("cooldown_days", "CONTRAIL_RETRAIN_COOLDOWN_DAYS", 0)):
            text = environ.get(name, "").strip()
            if not text:
                continue
            try:
                values[key] = int(text)
            except ValueError:
                raise ConfigError(f"{name}={text!r} is not a whole number of days; unset it for the default "
                                  f"{getattr(cls, key)}") from None
            if values[key] < low:
                raise ConfigError(f"{name}={text} must be at least {low}")
        for key, name in (("alarms", "CONTRAIL_RETRAIN_ON_ALARM"), ("train_on_degraded", "CONTRAIL_TRAIN_ON_DEGRADED"),
                          ("backoff", "CONTRAIL_RETRAIN_BACKOFF")):
            flag = environ.get(name, "").strip().lower()
            if flag:
                if flag not in ("true", "false", "1", "0", "yes", "no"):
                    raise ConfigError(f"{name}={flag!r}: say true or false")
                values[key] = flag in ("true", "1", "yes")
        start = environ.get("CONTRAIL_SCHEDULE_START", "").strip()
        if start:
            try:
                values["start"] = dt.date.fromisoformat(start).isoformat()
            except ValueError:
                raise ConfigError(f"CONTRAIL_SCHEDULE_START={start!r} is not a date: say YYYY-MM-DD, or unset it to "
                                  "start at the first landed day") from None
        policy = cls(**values)
        if policy.min_days > policy.window_days:
            raise ConfigError(f"CONTRAIL_MIN_WINDOW_DAYS={policy.min_days} exceeds CONTRAIL_WINDOW_DAYS={policy.window_days}: "
                              "no window could ever hold enough days")
        return policy


@dataclass(frozen=True)
class Due:
    day: str  # the data date: the window ends on it, its model scores the days after it
    reason: str  # "first window", "model 28 days old", "alarm: ..."
    days: tuple[str, ...]  # the window's usable days


@dataclass
class Walk:
    due: Due | None = None  # the next training to run: everything after it waits for its outcome
    waiting: str | None = None  # why the walk stopped before the last settled day, if it did


def day_range(first: str, last: str) -> list[str]:
    """`dates.day_range` over ISO days."""
    from contrail import dates

    return [f"{d}" for d in dates.day_range(dt.date.fromisoformat(first), dt.date.fromisoformat(last))]


def shift(day: str, days: int) -> str:
    return f"{dt.date.fromisoformat(day) + dt.timedelta(days=days):%Y-%m-%d}"


def gap(first: str, last: str) -> int:
    return (dt.date.fromisoformat(last) - dt.date.fromisoformat(first)).days


def window(day: str, usable: list[str], policy: Policy) -> list[str]:
    """The usable days of the `window_days` calendar days ending on `day`."""
    start = shift(day, 1 - policy.window_days)
    return [d for d in usable if start <= d <= day]


def settled_through(settled: set[str], landed: set[str], start: str | None = None) -> str | None:
    """The last day of the unbroken run of settled days from the first landed one. A day with nothing landed
    (a hole in the data) does not break it once a day GAP_GRACE_DAYS later is settled; a landed day whose
    features are neither built nor refused does. `start`: the run begins there instead (the policy's start)."""
    settled, landed = ({d for d in days if start is None or d >= start} for days in (settled, landed))
    if not settled:
        return None
    last_settled = max(settled)
    through = None
    for day in day_range(min(landed | settled), last_settled):
        if day in settled or (day not in landed and gap(day, last_settled) >= GAP_GRACE_DAYS):
            through = day
        else:
            break
    return through


def walk(through: str | None, usable: list[str], trained: set[str], policy: Policy,
         alarm: Callable[[str], list[str] | None] | None = None, promoted: set[str] | None = None) -> Walk:
    """The first training due up to the day `through` that is not decided yet, or where the walk had to stop.

    `trained`: the data dates whose training is decided (by the schedule, by hand or for a drop): each
    restarts the model's age. `promoted`: the data dates whose model the gate promoted; while none before a day
    is, there is no champion to score with, and every next usable day is due again. `alarm(day)`: the reasons the day's final monitoring asked for retraining ([] for none),
    or None while that is not known yet (not scored by its model as of that day, or not monitored)."""
    result = Walk()
    if through is None:
        return result
    last, refusals = None, 0
    for day in (d for d in usable if d <= through and (policy.start is None or d >= policy.start)):
        if day in trained:
            last = day  # a training decided on this data date (due, by hand or for a drop) restarts the clock
            refusals = 0 if promoted is None or day in promoted else refusals + 1
            continue
        cooldown = alarm_cooldown(policy, refusals)
        why = None
        if last is None:
            why = "first window"
        elif promoted is not None and not any(d <= last for d in promoted):
            why = "no champion yet: the gate refused every model so far"
        elif policy.max_age_days and gap(last, day) >= policy.max_age_days:
            why = f"model {gap(last, day)} days old"
        elif policy.alarms and alarm is not None and gap(last, day) >= cooldown:
            reasons = alarm(day)
            if reasons is None:
                result.waiting = f"{day}: waiting for its monitoring on the model due {last}"
                return result
            backed_off = f" (cooldown {cooldown} days after {refusals} refused training(s) in a row)" if refusals else ""
            why = f"alarm: {'; '.join(reasons)}{backed_off}" if reasons else None
        if why is None:
            continue
        days = window(day, usable, policy)
        if len(days) < policy.min_days:
            continue
        result.due = Due(day, why, tuple(days))
        return result
    return result


def alarm_cooldown(policy: Policy, refusals: int) -> int:
    """Data days after the last training before an alarm can make a day due: the cooldown, doubled for each training
    the gate refused in a row since the last promotion (a refusal says a new model did not beat the champion on the
    latest days: retraining on the next alarm would most likely be refused too), up to the model's maximum age."""
    if not policy.backoff or refusals == 0:
        return policy.cooldown_days
    cap = policy.max_age_days or policy.window_days
    return max(policy.cooldown_days, min(policy.cooldown_days * 2 ** refusals, cap))


def as_of(day: str, decisions: list[dict]) -> str | None:
    """The model version that scores `day`: the champion after the last decision on a model due before `day`;
    before the first champion, the first champion (a day before any model is scored by the earliest one).
    `decisions`: promotion ledger events with their `due` (rollbacks, which have none, are left out)."""
    dated = sorted((e for e in decisions if e.get("due") and e["action"] in ("promoted", "refused")),
                   key=lambda e: (e["due"], e["seq"]))
    champion = None
    for event in dated:
        if event["due"] >= day:
            break
        champion = event.get("champion_after") or champion
    if champion is None:
        champion = next((e["champion_after"] for e in dated if e.get("champion_after")), None)
    return None if champion is None else str(champion)
