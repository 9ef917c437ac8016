"""The training DAG's task bodies: which window a run trains on, and the training itself."""

from __future__ import annotations

import logging

from contrail.training import window
from contrail.training.model import model_name  # noqa: F401  (the DAG's tasks read it at run time)

log = logging.getLogger(__name__)
JOBS = "training/jobs"  # each training job's spec, lineage and (local profile) output, in the lake
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


def plan(split: dict, params: dict, dag_run, impl) -> dict:
    """The train step's plan: the job's name (from the run and its window), its spec and the window's
    lineage written beside its output in the lake, and the platform's requests for the job."""
    import json

    from contrail import storage
    from contrail.platforms import naming
    from contrail.training import job

    days = window.Split(**split).days
    tune = bool(params.get("tune"))
    names = naming.Names.of(dag_run, "train", days)
    # SageMaker allows 63 characters for a training job's name and 32 for a tuning job's
    job_name = names.resource("tune" if tune else "", max_len=32 if tune else 63)
    spec = job.spec(split, tune=tune, n_trials=int(params.get("n_trials") or 20),
                    timeout_s=60 * float(params.get("timeout_minutes") or 10))
    folder = storage.location(f"{JOBS}/{job_name}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.json").write_text(json.dumps(spec, indent=1))
    (folder / "lineage.json").write_text(json.dumps(window.lineage(days)))
    planned = impl.plan_training(spec, names, job_name)
    planned["register"] = {"model": model_name(), "lineage": f"{JOBS}/{job_name}/lineage.json", "output": planned.pop("output"),
                           "job": {"name": job_name, "platform": impl.NAME, "cost_usd": planned["cost"]["usd"]}}
    return planned


def register(request: dict, impl) -> dict:
    """Register the job's output (wherever the platform keeps it) with the lineage taken when it was planned."""
    import json

    from contrail import storage
    from contrail.training import register as registration

    from contrail import inputs

    lineage = json.loads(storage.location(inputs.relative(request["lineage"], "lineage path of the training plan",
                                                          under=(f"{JOBS}/",))).read_text())
    with impl.job_output(request["output"]) as folder:
        return registration.register(folder, request["model"], lineage, request["job"])
