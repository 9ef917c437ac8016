"""The training DAG's task bodies: which window a run trains on, and the training itself."""

from __future__ import annotations

import logging

from contrail.training import window
from contrail.training.model import model_name  # noqa: F401  (the DAG's tasks read it at run time)

log = logging.getLogger(__name__)
MIN_NEW_DAYS = 7  # a scheduled run retrains once the lake holds this many days newer than the last model's window


class Skip(Exception):
    """This run has nothing to train on yet; the message says why."""


def last_trained_day(model_name: str) -> str | None:
    """The latest window end among the registered versions of `model_name`, or None."""
    from contrail.registry import tracking

    client = tracking.client()
    ends = [mv.tags.get("contrail.window", "").split("..")[-1]
            for mv in client.search_model_versions(f"name='{model_name}'")]
    return max((e for e in ends if e), default=None)


def resolve_window(params: dict, model_name: str) -> dict:
    """Manual runs: the params' window, which must be usable as a whole (else a clear error).
    Scheduled runs: the latest window with enough usable days (window.latest), skipping while there is
    none or too little of it is newer than the last model's window."""
    if params.get("start") or params.get("end"):
        days = window.explicit(params.get("start") or params["end"], params.get("end"))
        return window.split(days, min_days=int(params.get("min_days") or window.MIN_DAYS)).as_dict()
    min_days = int(params.get("min_days") or window.MIN_DAYS)
    days, refused = window.latest(int(params.get("window_days") or window.WINDOW_DAYS), min_days=min_days)
    for day, why in refused.items():
        log.warning("left out of the window: %s", why)
    try:
        split = window.split(days, min_days=min_days)
    except window.WindowTooSmall as exc:
        raise Skip(str(exc)) from exc
    last = last_trained_day(model_name)
    new_days = [d for d in split.days if last is None or d > last]
    need = int(params.get("min_new_days") or MIN_NEW_DAYS)
    if last is not None and len(new_days) < need:
        raise Skip(f"only {len(new_days)} usable day(s) newer than the last model's window (ends {last}); "
                   f"retraining waits for {need}")
    return split.as_dict()


def train(split: dict, params: dict, model_name: str) -> dict:
    from contrail.training import run

    return run.train(window.Split(**split), model_name=model_name, tune=bool(params.get("tune")),
                     n_trials=int(params.get("n_trials") or 20), timeout_s=60 * float(params.get("timeout_minutes") or 10))
