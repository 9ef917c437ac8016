"""The train step on Azure ML: its plan (a command job, or a sweep job over model.SEARCH_SPACE, as CLI v2 job YAML
dicts for AzureMLJobOperator), the wait (the job wrote its result into the lake), and the job's output read back.

The job runs the training image (Dockerfile.training) with `python -m contrail.training.job --spec ... --features
... --output ...`, its inputs and output mounted from the lake through the workspace datastore registered on the
lake's container (`azureml://datastores/<datastore>/paths/<lake prefix>/...`). A command job writes into
`<lake>/training/jobs/<job>/output/`; each trial of a sweep into `<lake>/training/jobs/<job>/trials/<trial>/`
(`${{name}}` is the trial's job name). The best trial is the one whose result.json holds the highest validation ROC
AUC: the same number the trial logged to MLflow for the sweep's objective, read from the lake instead of run
history, so `train.register` needs nothing but the lake.
"""

from __future__ import annotations

import contextlib
import json
import math
from urllib.parse import urlparse

from contrail.platforms import cost
from contrail.platforms.azure import settings as azure_settings
from contrail.platforms.naming import Names
from contrail.platforms.settings import Settings
from contrail.training import job, model

HERE = "contrail.platforms.azure"
METRIC = job.VERTEX_METRIC  # validation_roc_auc: what a trial logs to MLflow and the sweep maximises
COMMAND = ("python -m contrail.training.job --spec ${{inputs.spec}} --features ${{inputs.features}} "
           "--output ${{outputs.output}}")
SCHEMA = "https://azuremlschemas.azureedge.net/latest/{}.schema.json"
TRIAL = "${{name}}"  # a sweep trial's own job name, in its output path


def job_folder(job_name: str) -> str:
    """The job's folder in the lake (relative): its spec and lineage (written by the plan) and its outputs."""
    return f"training/jobs/{job_name}"


def datastore_path(s: Settings, lake: str, relative: str) -> str:
    """`relative` (a path in the lake) as the job reaches it: through the datastore on the lake's container."""
    prefix = urlparse(lake).path.strip("/")
    return f"azureml://datastores/{s.need('azureml_datastore')}/paths/" + "/".join(p for p in (prefix, relative) if p)


def _io(s: Settings, lake: str, job_name: str, output: str) -> dict:
    """The job's inputs (read-only mounts of its spec and the features) and its output (a read-write mount)."""
    return {"inputs": {"spec": {"type": "uri_file", "mode": "ro_mount",
                                "path": datastore_path(s, lake, f"{job_folder(job_name)}/spec.json")},
                       "features": {"type": "uri_folder", "mode": "ro_mount", "path": datastore_path(s, lake, "features/")}},
            "outputs": {"output": {"type": "uri_folder", "mode": "rw_mount",
                                   "path": datastore_path(s, lake, f"{job_folder(job_name)}/{output}/")}}}


def _common(s: Settings, names: Names, job_name: str, kind: str) -> dict:
    return {"$schema": SCHEMA.format(f"{kind}Job"), "type": kind, "name": job_name, "display_name": job_name,
            "experiment_name": names.dag_id, "tags": names.tags(), "compute": f"azureml:{s.need('azureml_compute')}",
            "queue_settings": {"job_tier": "spot" if s.flag("training_spot") else "standard"}}


def _environment(s: Settings, names: Names) -> dict:
    """The image and what the job's log should say it belongs to."""
    return {"environment": s.need("training_image"),
            "environment_variables": {"CONTRAIL_DAG_ID": names.dag_id, "CONTRAIL_RUN_ID": names.run_id}}


def command_job(s: Settings, names: Names, job_name: str, lake: str) -> dict:
    """One training job: the entry point on the compute cluster, its output in `<job>/output/`."""
    return {**_common(s, names, job_name, "command"), "command": COMMAND, **_environment(s, names),
            **_io(s, lake, job_name, "output"), "resources": {"instance_count": 1},
            "limits": {"timeout": s.number("training_max_run_s", int)}}


def search_space() -> dict:
    """model.SEARCH_SPACE as a sweep's search space. Azure ML's loguniform draws exp(uniform(min_value, max_value)),
    so its bounds are the logs of ours; integers are quniform / qloguniform with q 1 (randint has no lower bound)."""
    built = {}
    for name, p in model.SEARCH_SPACE.items():
        low, high = (math.log(p.low), math.log(p.high)) if p.log else (p.low, p.high)
        kind = ("q" if p.kind == "int" else "") + ("loguniform" if p.log else "uniform")
        built[name] = {"type": kind, "min_value": low, "max_value": high, **({"q": 1} if p.kind == "int" else {})}
    return built


def sweep_job(spec: dict, s: Settings, names: Names, job_name: str, lake: str) -> dict:
    """A sweep of `spec["n_trials"]` trials, random over SEARCH_SPACE, maximising the validation ROC AUC each trial
    logs; every trial writes into `<job>/trials/<its name>/`."""
    flags = " ".join(f"--{name} ${{{{search_space.{name}}}}}" for name in model.SEARCH_SPACE)
    timeout = max(120, int(spec["timeout_s"]))
    return {**_common(s, names, job_name, "sweep"), "trial": {"command": f"{COMMAND} {flags}", **_environment(s, names)},
            **_io(s, lake, job_name, f"trials/{TRIAL}"), "sampling_algorithm": "random", "search_space": search_space(),
            "objective": {"primary_metric": METRIC, "goal": "maximize"},
            "limits": {"max_total_trials": spec["n_trials"],
                       "max_concurrent_trials": min(spec["n_trials"], s.number("tuning_parallel", int)),
                       "timeout": timeout, "trial_timeout": min(timeout, s.number("training_max_run_s", int))}}


def verbatim(value):
    """`value` with every string holding an Azure ML expression (`${{...}}`) kept from Jinja: CloudOperator renders
    the request's strings once, and `{{inputs.spec}}` would be an undefined Jinja variable."""
    if isinstance(value, dict):
        return {key: verbatim(item) for key, item in value.items()}
    if isinstance(value, str) and "${{" in value:
        return "{% raw %}" + value + "{% endraw %}"
    return value


def cost_lines(s: Settings, trials: int = 0) -> list[cost.Line]:
    return [cost.Line("tuning trials" if trials else "training job", s.need("training_instance_type"), trials or 1,
                      s.number("training_expected_hours"), spot=s.flag("training_spot"), base="azureml")]


def plan(spec: dict, names: Names, job_name: str) -> dict:
    from contrail.platforms.azure import account

    s = azure_settings.load()
    lake = account.lake_root()
    account.require_container(lake, "CONTRAIL_DATA_ROOT", s)
    conn = {"conn_id": s.need("azureml_conn_id")}
    wait = {"deferrable": True, "poll_interval": s.number("poll_s", float), **conn}
    kind = "tuning" if spec["tune"] else "training"
    check = {"job": job_name, "kind": kind}
    if spec["tune"]:
        slots = {"submit_training": "this run tunes (param tune): submit_tuning trains",
                 "await_training": "this run tunes (param tune)",
                 "submit_tuning": {"job": verbatim(sweep_job(spec, s, names, job_name, lake)), **wait}, "await_tuning": check}
    else:
        slots = {"submit_training": {"job": verbatim(command_job(s, names, job_name, lake)), **wait}, "await_training": check,
                 "submit_tuning": "this run does not tune (param tune is off)",
                 "await_tuning": "this run does not tune (param tune is off)"}
    lines = cost_lines(s, spec["n_trials"] if spec["tune"] else 0)
    return {**slots, "output": check, "cost": cost.estimate(lines, cost.prices(), cost.spot_discount())}


def output_folder(output: dict) -> str:
    """The lake folder (relative) holding the job's model/ and result.json: a command job's output/, or the sweep
    trial's folder whose result.json has the highest validation ROC AUC."""
    from contrail import storage

    base = job_folder(output["job"])
    if output["kind"] != "tuning":
        return f"{base}/output"
    trials = storage.location(f"{base}/trials")
    scored = {}
    for result in (trials.iterdir() if trials.exists() else []):
        if (result / "result.json").exists():
            scored[result.name] = json.loads((result / "result.json").read_text())["validation"]["roc_auc"]
    if not scored:
        raise storage.MissingPartition(f"the sweep job {output['job']} succeeded but no trial wrote "
                                       f"{trials}/<trial>/result.json: see its trials in the studio")
    best = max(sorted(scored), key=scored.get)
    print(f"the sweep's best trial: {best} ({METRIC} {scored[best]:.4f} of {len(scored)} trial(s))")
    return f"{base}/trials/{best}"


def check_output(request) -> str:
    """The job the submit task waited for wrote its model and evidence into the lake."""
    from contrail import storage
    from contrail.platforms.local import skip_unless_request

    request = skip_unless_request(request)
    folder = storage.location(output_folder(request))
    if not (folder / "result.json").exists():
        raise storage.MissingPartition(f"the Azure ML {request['kind']} job {request['job']} completed but wrote no "
                                       f"{folder}/result.json: see its log in the studio")
    print(f"the {request['kind']} job's output: {folder}")
    return str(folder)


def _awaiting(slot: str):
    """The wait of a submit slot: the job the operator waited for wrote its result into the lake."""
    from airflow.sdk import task

    return task(task_id=slot)(check_output)


def operators(plan, cloud) -> dict:
    operator = "contrail_plugins.azureml.operators.AzureMLJobOperator"  # re-attaches to its job by name itself
    return {"submit_training": cloud("submit_training", operator, plan["submit_training"]),
            "await_training": _awaiting("await_training")(plan["await_training"]),
            "submit_tuning": cloud("submit_tuning", operator, plan["submit_tuning"]),
            "await_tuning": _awaiting("await_tuning")(plan["await_tuning"])}


@contextlib.contextmanager
def downloaded(output: dict):
    """The job's output folder (model/, result.json, ...), copied from the lake into a temporary folder."""
    import tempfile
    from pathlib import Path

    from contrail import storage

    source = storage.location(output_folder(output))
    with tempfile.TemporaryDirectory(prefix="contrail-job-") as tmp:
        folder = Path(tmp) / "output"
        source.fs.get(source.path.rstrip("/") + "/", str(folder), recursive=True)
        yield folder


# ---- the registry mirror ----------------------------------------------------------------------

def plan_mirror(candidate: dict, decision: str | None, names: Names) -> dict:
    """A model version in the workspace for the MLflow version: the MLflow model folder the job wrote, by its
    datastore path (nothing is uploaded), tagged with the run and the promotion decision."""
    from contrail import storage
    from contrail.platforms.azure import account

    s = azure_settings.load()
    kind = "training" if (storage.location(f"{job_folder(candidate['job'])}/output") / "result.json").exists() else "tuning"
    folder = output_folder({"job": candidate["job"], "kind": kind})
    tags = {**names.tags(), "mlflow_version": str(candidate["version"]), "mlflow_run_id": candidate["run_id"],
            "decision": decision or "none", **{f"holdout_{k}": f"{v:.4f}" for k, v in (candidate.get("metrics") or {}).items()
                                               if k in ("roc_auc", "pr_auc")}}
    version = {"name": candidate["model"], "version": str(candidate["version"]), "type": "mlflow_model",
               "path": datastore_path(s, account.lake_root(), f"{folder}/model/"), "tags": tags,
               "description": f"{candidate['model']} v{candidate['version']}, window {candidate['window']}, job "
                              f"{candidate['job']} (MLflow is the registry of record)"}
    return {"register_version": {"model": version, "conn_id": s.need("azureml_conn_id")},
            "cost": cost.estimate([], {}, 0.0)}
