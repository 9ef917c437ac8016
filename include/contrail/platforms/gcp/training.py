"""The train step on Vertex AI: its plan (the training or tuning request over the spec the train task wrote to
the lake, the cost estimate), its operators, and the job's output read back from the lake."""

from __future__ import annotations

import contextlib

from contrail.platforms.gcp import settings as gcp_settings

HERE = "contrail.platforms.gcp"


def plan(spec: dict, names, job_name: str) -> dict:
    from contrail.platforms import cost
    from contrail.platforms.gcp import account, vertex

    s = gcp_settings.load()
    conn = account.connection(s)
    lake = account.lake_root()
    account.require_bucket(lake, "CONTRAIL_DATA_ROOT", conn)
    account.require_service_account(s, "vertex_service_account", conn)
    s.need("training_image")
    check = {"job": job_name, "kind": "tuning" if spec["tune"] else "training", "poke_interval": s.number("poll_s", int), **conn}
    if spec["tune"]:
        slots = {"submit_training": "this run tunes (param tune): submit_tuning trains",
                 "await_training": "this run tunes (param tune)",
                 "submit_tuning": {**vertex.tuning_request(spec, s, names, job_name, lake), **conn},
                 "await_tuning": check}
        lines = vertex.training_cost(s, trials=spec["n_trials"])
    else:
        slots = {"submit_training": {**vertex.training_request(s, names, job_name, lake), **conn},
                 "await_training": check,
                 "submit_tuning": "this run does not tune (param tune is off)",
                 "await_tuning": "this run does not tune (param tune is off)"}
        lines = vertex.training_cost(s)
    return {**slots, "output": {"kind": check["kind"], "job": job_name, **conn},
            "cost": cost.estimate(lines, cost.prices(), cost.spot_discount())}


def check_output(request) -> str:
    """The job the submit task waited for wrote its model and evidence into the lake."""
    from contrail import storage
    from contrail.platforms.gcp import vertex
    from contrail.platforms.local import skip_unless_request

    request = skip_unless_request(request)
    folder = vertex.output_folder(request)
    if not (storage.location(folder) / "result.json").exists():
        raise storage.MissingPartition(f"the {request['kind']} job {request['job']} succeeded but wrote no "
                                       f"{storage.location(folder)}/result.json: see its log in the console")
    print(f"the {request['kind']} job's output: {storage.location(folder)}")
    return folder


def operators(plan, cloud) -> dict:
    from airflow.sdk import task

    explain, console = f"{HERE}.vertex:explain", f"{HERE}.vertex:console"

    @task(task_id="await_training")
    def check_training(request) -> str:
        return check_output(request)

    @task(task_id="await_tuning")
    def check_tuning(request) -> str:
        return check_output(request)

    return {
        "submit_training": cloud("submit_training", "operators.vertex_ai.custom_job.CreateCustomJobOperator", plan["submit_training"],
                                 attach=f"{HERE}.vertex:find_training", explain=explain, console=console),
        "await_training": check_training(plan["await_training"]),
        "submit_tuning": cloud("submit_tuning", "operators.vertex_ai.hyperparameter_tuning_job.CreateHyperparameterTuningJobOperator",
                               plan["submit_tuning"], attach=f"{HERE}.vertex:find_tuning", explain=explain, console=console,
                               arguments=f"{HERE}.vertex:tuning_arguments"),
        "await_tuning": check_tuning(plan["await_tuning"]),
    }


@contextlib.contextmanager
def downloaded(output: dict):
    """The job's output folder (model/, result.json, ...), copied from the lake into a temporary folder."""
    import tempfile
    from pathlib import Path

    from contrail import storage
    from contrail.platforms.gcp import vertex

    source = storage.location(vertex.output_folder(output))
    with tempfile.TemporaryDirectory(prefix="contrail-job-") as tmp:
        folder = Path(tmp) / "output"
        source.fs.get(source.path.rstrip("/") + "/", str(folder), recursive=True)
        yield folder
