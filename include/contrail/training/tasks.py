"""The training DAG's task bodies: which window a run trains on, and the training itself."""

from __future__ import annotations

import logging

from contrail.training import window
from contrail.training.model import model_name  # noqa: F401  (the DAG's tasks read it at run time)

log = logging.getLogger(__name__)
JOBS = "training/jobs"  # each training job's spec, lineage and (local profile) output, in the lake


class Skip(Exception):
    """This run has nothing to train on yet; the message says why."""


def versions_due(model_name: str) -> dict[str, str]:
    """Registered versions of `model_name` by the data date they were trained as due for."""
    from contrail.registry import tracking

    return {mv.tags["contrail.due"]: str(mv.version) for mv in tracking.client().search_model_versions(f"name='{model_name}'")
            if mv.tags.get("contrail.due")}


def resolve_window(params: dict, model_name: str, drop_days: list[str] | None = None) -> dict:
    """Manual runs: the params' window, which must be usable as a whole (else a clear error).
    Scheduled runs: the next training the policy has due (training/schedule.py), whatever triggered the run;
    skipped, saying why, while none is. A labelled-data drop: the window ending on its latest day, at once.
    A scheduled window carries its data date (`due`) and why it is due."""
    from contrail.training import policy, schedule

    if params.get("start") or params.get("end"):
        days = window.explicit(params.get("start") or params["end"], params.get("end"))
        split = window.split(days, min_days=int(params.get("min_days") or window.MIN_DAYS))
        return {**split.as_dict(), "due": days[-1], "reason": "manual window"}
    rules = schedule.Policy.from_settings()
    if drop_days:
        day = max(drop_days)
        due = schedule.Due(day, "labelled-data drop", tuple(schedule.window(day, policy.lake_days(rules)[1], rules)))
    else:
        due, why = policy.next_training(model_name, rules)
        if due is None:
            raise Skip(why)
    earlier = None if drop_days else versions_due(model_name).get(due.day)
    if earlier is not None:
        raise Skip(f"v{earlier} was trained as due {due.day} and awaits its promotion decision: clear the failed promote "
                   "task of its run (or delete the version) and the schedule goes on")
    log.info("training due %s (%s) on %d day(s) %s..%s", due.day, due.reason, len(due.days), due.days[0] if due.days else "-",
             due.days[-1] if due.days else "-")
    try:
        split = window.split(list(due.days), min_days=rules.min_days)
    except window.WindowTooSmall as exc:
        raise Skip(str(exc)) from exc
    return {**split.as_dict(), "due": due.day, "reason": due.reason}


def plan(split: dict, params: dict, dag_run, impl) -> dict:
    """The train step's plan: the job's name (from the run and its window), its spec and the window's
    lineage written beside its output in the lake, and the platform's requests for the job."""
    import json

    from contrail import storage
    from contrail.platforms import naming
    from contrail.training import job

    schedule = {key: split[key] for key in ("due", "reason") if key in split}
    split = {part: split[part] for part in ("train", "validation", "holdout")}
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
                           "job": {"name": job_name, "platform": impl.NAME, "cost_usd": planned["cost"]["usd"], **schedule}}
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
