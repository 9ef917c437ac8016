"""Spark on Dataproc: the requests of an ephemeral cluster, its pyspark jobs and Dataproc Serverless
batches (pure), and the run-time helpers the operators are given: re-attach, explain a failure, the
console page.

The cluster's Python environment comes from an initialization action (`bootstrap/dataproc-python.sh`,
uploaded with the code): it pip-installs the pinned `requirements-cluster.txt` (mlflow, scikit-learn,
LightGBM, pandas, pyarrow) into the image's Python 3.11 on every node, so that
`mlflow.pyfunc.spark_udf` loads the model on the executors as it does locally. Serverless batches
have no initialization actions: they run in a custom container image holding the same pins
(CONTRAIL_DATAPROC_CONTAINER_IMAGE).
"""

from __future__ import annotations

from contrail.platforms import cost
from contrail.platforms.gcp.account import labels, resource
from contrail.platforms.naming import Names
from contrail.platforms.settings import Settings
from contrail.spark.conf import JOB_CONF

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
PREEMPTIBILITY = {"spot": "SPOT", "preemptible": "PREEMPTIBLE", "non-preemptible": "NON_PREEMPTIBLE"}
CONSOLE = "https://console.cloud.google.com/dataproc"
FAILED = ("ERROR", "CANCELLED")


def code(s: Settings) -> str:
    return s.need("code_uri").rstrip("/")


def cluster_name(names: Names) -> str:
    return resource(names, "cluster", max_len=51)


def cluster_request(s: Settings, names: Names, conn: dict) -> dict:
    """DataprocCreateClusterOperator's arguments: standard primary workers, spot (or preemptible) secondary
    workers under an autoscaling policy, an idle delete TTL, the Python initialization action, Contrail's labels.
    The request id makes a retried create the same request; `use_if_exists` re-attaches to the cluster."""
    kind = s.choice("dataproc_secondary_kind", tuple(PREEMPTIBILITY))
    secondary = s.number("dataproc_secondary_count", int)
    from contrail.platforms.gcp.reaper import metadata

    gce = {"service_account": s.need("dataproc_service_account"), "service_account_scopes": SCOPES,
           "metadata": {"contrail-code-uri": code(s), **metadata(names)}}
    if s.get("dataproc_subnetwork"):
        gce["subnetwork_uri"] = s.get("dataproc_subnetwork")
    config = {
        "gce_cluster_config": gce,
        "master_config": {"num_instances": 1, "machine_type_uri": s.need("dataproc_primary_type")},
        "worker_config": {"num_instances": s.number("dataproc_worker_count", int), "machine_type_uri": s.need("dataproc_worker_type")},
        "software_config": {"image_version": s.need("dataproc_image"),
                            "properties": {f"spark:{key}": value for key, value in JOB_CONF.items()}},
        "initialization_actions": [{"executable_file": f"{code(s)}/bootstrap/dataproc-python.sh",
                                    "execution_timeout": {"seconds": 900}}],
        "lifecycle_config": {"idle_delete_ttl": {"seconds": s.number("dataproc_idle_ttl_s", int)}},
    }
    if secondary:
        config["secondary_worker_config"] = {"num_instances": secondary, "machine_type_uri": s.need("dataproc_worker_type"),
                                             "preemptibility": PREEMPTIBILITY[kind]}
    if s.get("dataproc_autoscaling_policy"):
        config["autoscaling_config"] = {"policy_uri": f"projects/{conn['project_id']}/regions/{conn['region']}/"
                                                      f"autoscalingPolicies/{s.get('dataproc_autoscaling_policy')}"}
    return {"cluster_name": cluster_name(names), "cluster_config": config, "labels": labels(names),
            "request_id": f"contrail-{names.digest}-create", "use_if_exists": True, "delete_on_error": True,
            "deferrable": True, "polling_interval_seconds": s.number("poll_s", int)}


def job_request(job: str, argv: list[str], s: Settings, names: Names) -> dict:
    """DataprocSubmitJobOperator's arguments: spark_jobs/<job>.py as a pyspark job on the run's cluster; submitted
    asynchronously (the sensor after it waits), its job id derived from the run, so a retried submit finds it."""
    return {"job": {"reference": {"job_id": resource(names, "job", max_len=100)},
                    "placement": {"cluster_name": cluster_name(names)},
                    "labels": labels(names),
                    "pyspark_job": {"main_python_file_uri": f"{code(s)}/spark_jobs/{job}.py", "args": list(argv),
                                    "properties": dict(JOB_CONF)}},
            "request_id": f"contrail-{names.digest}-submit", "asynchronous": True}


def batch_request(job: str, argv: list[str], s: Settings, names: Names) -> dict:
    """DataprocCreateBatchOperator's arguments: the same job as a Dataproc Serverless batch in the container image
    holding the executors' libraries; its batch id derived from the run."""
    runtime = {"version": s.need("dataproc_runtime"), "container_image": s.need("dataproc_container_image"),
               "properties": {**JOB_CONF, "spark.executor.instances": str(s.number("serverless_executors", int)),
                              "spark.executor.cores": str(s.number("serverless_cores", int)),
                              "spark.driver.cores": str(s.number("serverless_cores", int))}}
    execution = {"service_account": s.need("dataproc_service_account")}
    if s.get("dataproc_subnetwork"):
        execution["subnetwork_uri"] = s.get("dataproc_subnetwork")
    return {"batch": {"pyspark_batch": {"main_python_file_uri": f"{code(s)}/spark_jobs/{job}.py", "args": list(argv)},
                      "runtime_config": runtime, "environment_config": {"execution_config": execution},
                      "labels": labels(names)},
            "batch_id": resource(names, "batch", max_len=63), "request_id": f"contrail-{names.digest}-batch",
            "asynchronous": True}


def cost_lines(s: Settings, mode: str) -> list[cost.Line]:
    hours = s.number("dataproc_expected_hours")
    if mode == "serverless":
        cores = s.number("serverless_cores", int) * (1 + s.number("serverless_executors", int))
        return [cost.Line("serverless DCUs", "dcu", cores, hours, base="dataproc-serverless")]
    worker = s.need("dataproc_worker_type")
    lines = [cost.Line("primary", s.need("dataproc_primary_type"), 1, hours, base="gce", uplift="dataproc"),
             cost.Line("workers", worker, s.number("dataproc_worker_count", int), hours, base="gce", uplift="dataproc")]
    if s.number("dataproc_secondary_count", int):
        lines.append(cost.Line("secondary workers", worker, s.number("dataproc_secondary_count", int), hours,
                               spot=s.get("dataproc_secondary_kind") != "non-preemptible", base="gce", uplift="dataproc"))
    return lines


# ---- run time: what the operators are given (the google provider's hooks) ----------------------

def _hook(request: dict):
    from airflow.providers.google.cloud.hooks.dataproc import DataprocHook

    return DataprocHook(gcp_conn_id=request.get("gcp_conn_id", "google_cloud_default"))


def find_job(request: dict, context) -> str | None:
    """The job id of this run's job, if an earlier try submitted it and it has not failed."""
    from google.api_core.exceptions import NotFound

    job_id = request["job"]["reference"]["job_id"]
    try:
        job = _hook(request).get_job(job_id=job_id, region=request["region"], project_id=request["project_id"])
    except NotFound:
        return None
    return None if job.status.state.name in FAILED else job_id


def find_batch(request: dict, context) -> str | None:
    from google.api_core.exceptions import NotFound

    try:
        batch = _hook(request).get_batch(batch_id=request["batch_id"], region=request["region"], project_id=request["project_id"])
    except NotFound:
        return None
    return None if batch.state.name in ("FAILED", "CANCELLED") else request["batch_id"]


def driver_tail(uri: str, conn_id: str, lines: int = 40) -> str:
    """The last lines of a job's driver output (Dataproc writes `<uri>.000000000`, `.000000001`, ...)."""
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    from contrail.platforms.gcp.account import bucket_of

    if not uri:
        return "(the job names no driver output)"
    bucket, prefix = bucket_of(uri, "driver output")
    hook = GCSHook(gcp_conn_id=conn_id)
    try:
        parts = sorted(hook.list(bucket, prefix=prefix))
        text = b"".join(hook.download(bucket, name) for name in parts).decode(errors="replace")
    except Exception as exc:  # noqa: BLE001  (the explanation must not hide the job's own failure)
        return f"(the driver output at {uri} cannot be read: {type(exc).__name__}: {exc})"
    if not parts:
        return f"(no driver output yet at {uri})"
    return f"the last lines of {uri}:\n" + "\n".join(text.splitlines()[-lines:])


def explain_job(request: dict, context, error: Exception) -> tuple[str, bool]:
    """Why a job failed: its state, details, driver output tail and console page. A failed job stays failed."""
    job_id = request["dataproc_job_id"]
    job = _hook(request).get_job(job_id=job_id, region=request["region"], project_id=request["project_id"])
    state = job.status.state.name
    text = (f"Dataproc job {job_id} on cluster {job.placement.cluster_name} is {state}: {job.status.details}\n"
            f"{driver_tail(job.driver_output_resource_uri, request.get('gcp_conn_id'))}\nconsole: {console_job(request, None)}")
    return text, state in FAILED


def explain_batch(request: dict, context, error: Exception) -> tuple[str, bool]:
    batch = _hook(request).get_batch(batch_id=request["batch_id"], region=request["region"], project_id=request["project_id"])
    state = batch.state.name
    text = f"Dataproc batch {request['batch_id']} is {state}: {batch.state_message}\nconsole: {console_batch(request, None)}"
    return text, state in ("FAILED", "CANCELLED")


def console_cluster(request: dict, result) -> str | None:
    return f"{CONSOLE}/clusters/{request['cluster_name']}/monitoring?region={request['region']}&project={request['project_id']}"


def console_job(request: dict, result) -> str | None:
    job_id = request.get("dataproc_job_id") or (result if isinstance(result, str) else None)
    if not job_id or "{{" in job_id:
        return None
    return f"{CONSOLE}/jobs/{job_id}?region={request['region']}&project={request['project_id']}"


def console_batch(request: dict, result) -> str | None:
    return f"{CONSOLE}/batches/{request['region']}/{request['batch_id']}/monitoring?project={request['project_id']}"
