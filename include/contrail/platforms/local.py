"""The local platform: Spark jobs on the long-lived local Spark Connect server, training in the worker,
MLflow as the only registry, `mlflow models serve` for online serving. No cloud account, no server.

The slots that have nothing to do here (waiting on a job that already ran in-process, stopping a
server that stays up for the next task) are EmptyOperators, which the scheduler completes without
starting a worker; they keep every profile's DAGs the same graph.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from pathlib import Path

NAME = "local"
log = logging.getLogger(__name__)


def _empty(task_id: str, doc: str, **kwargs):
    from airflow.providers.standard.operators.empty import EmptyOperator

    return EmptyOperator(task_id=task_id, doc_md=doc, **kwargs)


def _lake_path(relative: str) -> Path:
    """A folder of the local lake named by a plan (an XCom, which the REST API can edit): checked to stay inside it."""
    from contrail import inputs, storage

    root = storage.root()
    if not storage.is_local(root):
        raise storage.StorageError(f"the local platform works on a local lake folder, not {root}")
    return Path(root.path) / inputs.relative(relative, "lake path of the training plan", under=("training/jobs/",))


def skip_unless_request(request):
    """A slot the plan left out for this run (a string saying why) skips, saying why."""
    if isinstance(request, str):
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException(request)
    return request


# ---- Spark jobs --------------------------------------------------------------------------------

def run_argv(job: str, argv: list[str]):
    """Run spark_jobs/<job>.py with `argv` in-process against the local Spark Connect server."""
    from contrail.spark import connect

    from contrail import storage

    module = importlib.import_module(f"spark_jobs.{job}")
    log.info("running %s on %s: %s", job, connect.url(), " ".join(argv))
    try:
        return module.main(argv, spark=connect.session())
    except FileNotFoundError as exc:  # the job names the missing partition; a retry cannot make it appear
        raise storage.MissingPartition(str(exc)) from exc


def run_job(job: str, days: list[str], params: dict | None = None):
    """Run spark_jobs/<job>.py over `days` here, as the DAG's step would (benchmarks, tests)."""
    from contrail.platforms import jobs

    return run_argv(job, jobs.arguments(job, days, params))


def plan_spark(job: str, argv: list[str], names) -> dict:
    from contrail.platforms import cost

    return {"start_cluster": {}, "submit_job": {"job": job, "argv": argv}, "await_job": {}, "stop_cluster": {},
            "cost": cost.free("the local Spark server")}


def spark_operators(job: str, plan) -> dict:
    from airflow.sdk import task

    @task(task_id="start_cluster")
    def start_local_spark(request: dict) -> str:
        from contrail.spark import connect

        return connect.ensure_server()

    @task(task_id="submit_job")
    def run_on_local_spark(request: dict) -> None:
        run_argv(request["job"], request["argv"])

    return {"start_cluster": start_local_spark(plan["start_cluster"]), "submit_job": run_on_local_spark(plan["submit_job"]),
            "await_job": _empty("await_job", "Local jobs run in `submit_job` itself: nothing to wait for."),
            "stop_cluster": _empty("stop_cluster", "The local Spark server stays up for the next task (`make stop` stops it).")}


def collect_scores(collect: dict) -> None:
    raise NotImplementedError("the local score job writes its predictions itself: its plan has nothing to collect")


def spark_session():
    from contrail.spark import connect

    return connect.session()


# ---- training ----------------------------------------------------------------------------------

def plan_training(spec: dict, names, job_name: str) -> dict:
    from contrail.platforms import cost

    output = f"training/jobs/{job_name}/output"
    request = {"spec": spec, "output": output}
    tune = spec["tune"]
    return {"submit_training": "this run tunes (param tune): submit_tuning trains" if tune else request,
            "submit_tuning": request if tune else "this run does not tune (param tune is off)",
            "await_training": {}, "await_tuning": {}, "output": {"path": output},
            "cost": cost.free("the training job in the worker")}


def _train_here(request: dict) -> str:
    import shutil

    from contrail.training import job, run

    output = _lake_path(request["output"])
    shutil.rmtree(output, ignore_errors=True)  # a retry starts clean; the folder belongs to this job alone
    job.run(request["spec"], run.local_features_dir(), output)
    return str(output)


def training_operators(plan) -> dict:
    from airflow.sdk import task

    @task(task_id="submit_training")
    def train_in_worker(request) -> str:
        return _train_here(skip_unless_request(request))

    @task(task_id="submit_tuning")
    def tune_in_worker(request) -> str:
        return _train_here(skip_unless_request(request))

    done = "Local training runs in its submit task: nothing to wait for."
    return {"submit_training": train_in_worker(plan["submit_training"]), "await_training": _empty("await_training", done),
            "submit_tuning": tune_in_worker(plan["submit_tuning"]), "await_tuning": _empty("await_tuning", done)}


@contextlib.contextmanager
def job_output(output: dict):
    yield _lake_path(output["path"])


# ---- registry mirror ---------------------------------------------------------------------------

def plan_mirror(candidate: dict, decision: str | None, names) -> dict:
    from contrail.platforms import cost

    return {"register_version": "MLflow is the only registry on the local platform: nothing to mirror",
            "cost": cost.free("the registry mirror")}


def mirror_operators(plan) -> dict:
    return {"register_version": _empty("register_version", "MLflow is the only registry on the local platform.")}


# ---- online serving ----------------------------------------------------------------------------

def plan_serving(model: str, version: str, names) -> dict:
    from contrail.platforms import cost, local_serving

    request = {"model": model, "version": version, "port": local_serving.port()}
    return {"deploy_endpoint": request, "await_endpoint": request, "endpoint": request,
            "cost": cost.free("mlflow models serve on this machine")}


def serving_operators(plan) -> dict:
    from airflow.sdk import task

    @task(task_id="deploy_endpoint")
    def serve_with_mlflow(request: dict) -> dict:
        from contrail.platforms import local_serving

        return local_serving.deploy(request)

    @task(task_id="await_endpoint")
    def wait_until_healthy(request: dict) -> str:
        from contrail.platforms import local_serving

        return local_serving.wait_healthy(request)

    return {"deploy_endpoint": serve_with_mlflow(plan["deploy_endpoint"]),
            "await_endpoint": wait_until_healthy(plan["await_endpoint"])}


def invoke(endpoint: dict, rows: list[dict]) -> list[float]:
    from contrail.platforms import local_serving

    return local_serving.invoke(endpoint, rows)


# ---- landing, housekeeping ---------------------------------------------------------------------

def convert_drops_operator():
    return _empty("convert_drops", "Local drops (CSV or Parquet) are read as they are by `land_drops`.")


def apply_lake_policy() -> str:
    return "the local lake is a folder: it has no storage tiers to move old raw data to"


def reap(run_state) -> list[str]:
    return []  # nothing here outlives its task but the Spark server and the serving process, both kept on purpose
