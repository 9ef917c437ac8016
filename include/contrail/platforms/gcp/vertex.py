"""Training and tuning on Vertex AI: the requests (pure) and the run-time helpers the operators are given
(re-attach, explain a failure, the console page, where the job's output is).

A custom job runs the training image (Dockerfile.training, the same image SageMaker runs) with
`python -m contrail.training.job --spec ... --features ...`, both read through Cloud Storage FUSE
(`gs://B/P` is `/gcs/B/P` inside the job). Vertex AI sets AIP_MODEL_DIR under the job's base output
directory (`<lake>/training/jobs/<job>/model/`; a tuning trial gets `<job>/<trial>/model/`), where the
job writes its model and evidence, and `train.register` reads them back from the lake. The tuning job
searches model.SEARCH_SPACE (the space Optuna searches locally) on the metric every trial reports
through the hypertune metrics file.
"""

from __future__ import annotations

from contrail.platforms import cost
from contrail.platforms.gcp.account import labels
from contrail.platforms.naming import Names
from contrail.platforms.settings import Settings
from contrail.training import job, model

METRIC = job.VERTEX_METRIC
COMMAND = ["python", "-m", "contrail.training.job"]
CONSOLE = "https://console.cloud.google.com/vertex-ai"
FAILED = ("JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED")


def fuse(uri: str) -> str:
    """The path of a gs:// object inside a Vertex AI job (Cloud Storage FUSE)."""
    return "/gcs/" + uri.split("://", 1)[1]


def job_folder(lake: str, job_name: str) -> str:
    return f"{lake.rstrip('/')}/training/jobs/{job_name}"


def worker_pool(s: Settings, lake: str, job_name: str, names: Names) -> dict:
    """The one worker: the training image's entry point over FUSE paths, the run's tags in its environment (what
    the reaper reads: labels cannot hold a run id)."""
    from contrail.platforms.gcp.reaper import environment

    args = ["--spec", fuse(f"{job_folder(lake, job_name)}/spec.json"), "--features", fuse(f"{lake.rstrip('/')}/features")]
    return {"machine_spec": {"machine_type": s.need("training_machine_type")}, "replica_count": 1,
            "container_spec": {"image_uri": s.need("training_image"), "command": COMMAND, "args": args,
                               "env": environment(names)}}


def training_request(s: Settings, names: Names, job_name: str, lake: str) -> dict:
    """CreateCustomJobOperator's arguments: one worker on Spot VMs (or standard), the job's service account and
    longest run, its output under the job's folder in the lake, Contrail's labels; waiting deferred."""
    return {"custom_job": {
        "display_name": job_name, "labels": labels(names),
        "job_spec": {"worker_pool_specs": [worker_pool(s, lake, job_name, names)],
                     "service_account": s.need("vertex_service_account"),
                     "scheduling": {"timeout": f"{s.number('training_max_run_s', int)}s",
                                    "strategy": "SPOT" if s.flag("training_spot") else "STANDARD"},
                     "base_output_directory": {"output_uri_prefix": job_folder(lake, job_name) + "/"}}},
        "deferrable": True, "poll_interval": s.number("poll_s", int)}


def parameter_spec() -> dict:
    """model.SEARCH_SPACE as Vertex AI parameter specs (JSON; `tuning_arguments` makes the SDK's objects of them)."""
    return {name: {"kind": "integer" if space.kind == "int" else "double", "min": space.low, "max": space.high,
                   "scale": "log" if space.log else "linear"} for name, space in model.SEARCH_SPACE.items()}


def tuning_request(spec: dict, s: Settings, names: Names, job_name: str, lake: str) -> dict:
    """CreateHyperparameterTuningJobOperator's arguments: the same worker as a training job, searching SEARCH_SPACE
    on validation ROC AUC within the run's trial and time budgets."""
    return {"display_name": job_name, "metric_spec": {METRIC: "maximize"}, "parameter_spec": parameter_spec(),
            "max_trial_count": spec["n_trials"], "parallel_trial_count": min(spec["n_trials"], s.number("tuning_parallel", int)),
            "worker_pool_specs": [worker_pool(s, lake, job_name, names)], "base_output_dir": job_folder(lake, job_name),
            "staging_bucket": lake,  # the SDK's CustomJob behind the operator refuses to start without one
            "custom_job_labels": labels(names), "hyperparameter_tuning_job_labels": labels(names),
            "service_account": s.need("vertex_service_account"), "timeout": max(120, int(spec["timeout_s"])),
            "deferrable": True, "poll_interval": s.number("poll_s", int)}


def tuning_arguments(request: dict) -> dict:
    """The operator wants the SDK's parameter spec objects, not the JSON the plan's XCom holds."""
    from google.cloud.aiplatform import hyperparameter_tuning as hpt

    kinds = {"integer": hpt.IntegerParameterSpec, "double": hpt.DoubleParameterSpec}
    specs = {name: kinds[p["kind"]](min=p["min"], max=p["max"], scale=p["scale"]) for name, p in request["parameter_spec"].items()}
    return {**request, "parameter_spec": specs}


def training_cost(s: Settings, trials: int = 0) -> list[cost.Line]:
    """A training job on Spot VMs if CONTRAIL_VERTEX_SPOT says so; tuning trials always on standard VMs (the tuning
    operator has no scheduling strategy)."""
    if trials:
        return [cost.Line("tuning trials", s.need("training_machine_type"), trials, s.number("training_expected_hours"),
                          spot=False, base="vertex")]
    return [cost.Line("training job", s.need("training_machine_type"), 1, s.number("training_expected_hours"),
                      spot=s.flag("training_spot"), base="vertex")]


# ---- run time ---------------------------------------------------------------------------------

def parent(conn: dict) -> str:
    """The Vertex AI location every job and model of the connection's project and region lives in."""
    return f"projects/{conn['project_id']}/locations/{conn['region']}"


def job_service(request: dict):
    from airflow.providers.google.cloud.hooks.vertex_ai.custom_job import CustomJobHook

    return CustomJobHook(gcp_conn_id=request.get("gcp_conn_id")).get_job_service_client(request["region"])


def _listed(request: dict, kind: str, name: str) -> list:
    """The custom or tuning jobs of this display name (the clients take a filter only inside the request)."""
    client = job_service(request)
    listing = client.list_custom_jobs if kind == "training" else client.list_hyperparameter_tuning_jobs
    return list(listing(request={"parent": parent(request), "filter": f'display_name="{name}"'}))


def find_training(request: dict, context) -> dict | None:
    """The custom job of this name an earlier try created, unless it failed (the operator's return value)."""
    from google.cloud.aiplatform_v1.types import CustomJob

    found = [j for j in _listed(request, "training", request["custom_job"]["display_name"]) if j.state.name not in FAILED]
    return CustomJob.to_dict(found[0]) if found else None


def find_tuning(request: dict, context) -> dict | None:
    from google.cloud.aiplatform_v1.types import HyperparameterTuningJob

    found = [j for j in _listed(request, "tuning", request["display_name"]) if j.state.name not in FAILED]
    return HyperparameterTuningJob.to_dict(found[0]) if found else None


def _named(request: dict, kind: str):
    name = (request.get("custom_job") or {}).get("display_name") or request.get("display_name") or request.get("job")
    jobs = _listed(request, kind, name)
    return name, (max(jobs, key=lambda j: j.create_time) if jobs else None)  # the latest try's, whatever the list order


def explain(request: dict, context, error: Exception) -> tuple[str, bool]:
    """Why a training or tuning job failed: its state and error, and its console page."""
    kind = "tuning" if "metric_spec" in request or request.get("kind") == "tuning" else "training"
    name, found = _named(request, kind)
    if found is None:
        return f"Vertex AI {kind} job {name}: not found ({error})", False
    state = found.state.name
    text = (f"Vertex AI {kind} job {name} ({found.name}) is {state}: {found.error.message or '(no error given)'}\n"
            f"console: {console(request, found.name)}")
    return text, state in FAILED


def console(request: dict, result) -> str | None:
    """The job's page (its resource id is the last part of its name), else the project's training jobs."""
    resource = result.get("name") if isinstance(result, dict) else result
    if not resource or "/" not in str(resource):
        return f"{CONSOLE}/training/custom-jobs?project={request['project_id']}"
    return f"{CONSOLE}/locations/{request['region']}/training/{str(resource).rsplit('/', 1)[-1]}?project={request['project_id']}"


def output_folder(output: dict) -> str:
    """The lake folder (relative) holding the job's model and evidence: the training job's model/, or the best
    tuning trial's <trial>/model/."""
    base = f"training/jobs/{output['job']}"
    if output["kind"] != "tuning":
        return f"{base}/model"
    _, found = _named(output, "tuning")
    if found is None or found.state.name != "JOB_STATE_SUCCEEDED":
        raise RuntimeError(f"tuning job {output['job']} has not succeeded: no best trial to register")
    trials = [t for t in found.trials if t.final_measurement.metrics]
    if not trials:
        raise RuntimeError(f"tuning job {output['job']} reports no trial with a final {METRIC}")
    best = max(trials, key=lambda t: next(m.value for m in t.final_measurement.metrics if m.metric_id == METRIC))
    return f"{base}/{best.id}/model"
