"""The Google Cloud platform: Spark on Dataproc (an ephemeral cluster per run, or Dataproc Serverless
batches), training and tuning on Vertex AI, the registry mirrored into the Vertex AI Model Registry,
GCS for the lake. Settings: `settings.TABLE`.

Every operator is an official google provider operator, built when its task runs (CloudOperator), so
the DAG files parse without the Google Cloud SDK. Requests come from the pure builders in dataproc.py,
vertex.py and registry.py; names and labels from naming.Names (a retry re-attaches to what its first
try started).
"""

from __future__ import annotations

from contrail.platforms import slots
from contrail.platforms.gcp import settings as gcp_settings

NAME = "gcp"
PROVIDER = "airflow.providers.google.cloud"
HERE = "contrail.platforms.gcp"
SETTINGS = f"{HERE}.settings:load"
_cloud, _empty = slots.cloud(PROVIDER), slots.empty


def _mode() -> str:
    """The Dataproc mode picks the operators at parse time; a bad value falls back to the default here and fails
    in the plan, naming the setting."""
    mode = gcp_settings.load().get("dataproc_mode")
    return mode if mode in gcp_settings.DATAPROC_MODES else "cluster"


# ---- Spark jobs on Dataproc --------------------------------------------------------------------

def plan_spark(job: str, argv: list[str], names) -> dict:
    from contrail.config import ConfigError
    from contrail.platforms import cost
    from contrail.platforms.gcp import account, dataproc

    s = gcp_settings.load()
    if s.choice("scoring_engine", gcp_settings.SCORING_ENGINES) == "batch" and job == "score_features":
        raise ConfigError("CONTRAIL_SCORING_ENGINE=batch (Vertex AI batch prediction) is not built on the gcp profile yet: "
                          "keep CONTRAIL_SCORING_ENGINE=spark (the score job on Dataproc)")
    mode = s.choice("dataproc_mode", gcp_settings.DATAPROC_MODES)
    conn = account.connection(s)
    account.require_bucket(s.need("code_uri"), "CONTRAIL_GCP_CODE_URI", conn)
    account.require_bucket(account.lake_root(), "CONTRAIL_DATA_ROOT", conn)
    account.require_service_account(s, "dataproc_service_account", conn)
    poll = s.number("poll_s", int)
    sensor = {"poke_interval": poll, "mode": "reschedule", **conn}
    if mode == "serverless":
        submit = {**dataproc.batch_request(job, argv, s, names), **conn}
        planned = {"start_cluster": "Dataproc Serverless batches need no cluster", "submit_job": submit,
                   "await_job": {"batch_id": submit["batch_id"], **sensor},
                   "stop_cluster": "Dataproc Serverless batches need no cluster"}
    else:
        start = {**dataproc.cluster_request(s, names, conn), **conn}
        planned = {"start_cluster": start, "submit_job": {**dataproc.job_request(job, argv, s, names), **conn},
                   "await_job": {"dataproc_job_id": "{{ ti.xcom_pull(task_ids='%s.submit_job') }}" % job, **sensor},
                   "stop_cluster": {"cluster_name": start["cluster_name"], "request_id": f"contrail-{names.digest}-delete", **conn}}
    planned["cost"] = cost.estimate(dataproc.cost_lines(s, mode), cost.prices(), cost.spot_discount())
    return planned


def spark_operators(job: str, plan) -> dict:
    here = f"{HERE}.dataproc"
    if _mode() == "serverless":
        done = "Dataproc Serverless batches need no cluster."
        return {"start_cluster": _empty("start_cluster", done),
                "submit_job": _cloud("submit_job", "operators.dataproc.DataprocCreateBatchOperator", plan["submit_job"],
                                     attach=f"{here}:find_batch", console=f"{here}:console_batch"),
                "await_job": _cloud("await_job", "sensors.dataproc.DataprocBatchSensor", plan["await_job"],
                                    explain=f"{here}:explain_batch", console=f"{here}:console_batch"),
                "stop_cluster": _empty("stop_cluster", done)}
    return {"start_cluster": _cloud("start_cluster", "operators.dataproc.DataprocCreateClusterOperator", plan["start_cluster"],
                                    console=f"{here}:console_cluster"),
            "submit_job": _cloud("submit_job", "operators.dataproc.DataprocSubmitJobOperator", plan["submit_job"],
                                 attach=f"{here}:find_job", console=f"{here}:console_job"),
            "await_job": _cloud("await_job", "sensors.dataproc.DataprocJobSensor", plan["await_job"],
                                explain=f"{here}:explain_job", console=f"{here}:console_job"),
            "stop_cluster": _cloud("stop_cluster", "operators.dataproc.DataprocDeleteClusterOperator", plan["stop_cluster"],
                                   console=f"{here}:console_cluster")}


def collect_scores(collect: dict) -> None:
    raise NotImplementedError("the Dataproc score job writes its predictions itself: its plan has nothing to collect")


# Spark inside a task (the quality engine): a Spark Connect endpoint (Dataproc's, or any), if one is configured
spark_session = slots.later("contrail.spark.connect:remote_session", NAME)


# ---- training and tuning on Vertex AI ----------------------------------------------------------

plan_training = slots.later(f"{HERE}.training:plan")
job_output = slots.later(f"{HERE}.training:downloaded")


def training_operators(plan) -> dict:
    from contrail.platforms.gcp import training

    return training.operators(plan, _cloud)


# ---- the registry mirror and the endpoint ------------------------------------------------------

plan_mirror = slots.later(f"{HERE}.registry:plan_mirror")


def mirror_operators(plan) -> dict:
    return {"register_version": _cloud("register_version", "operators.vertex_ai.model_service.UploadModelOperator",
                                       plan["register_version"], attach=f"{HERE}.registry:find_version",
                                       console=f"{HERE}.registry:console")}


def plan_serving(model: str, version: str, names) -> dict:
    from contrail.config import ConfigError

    raise ConfigError("online serving on the gcp profile (a Vertex AI endpoint) is not built yet: keep CONTRAIL_SERVING off "
                      "there; the champion is mirrored into the Vertex AI Model Registry by the training DAG")


def serving_operators(plan) -> dict:
    return {"deploy_endpoint": _cloud("deploy_endpoint", "operators.vertex_ai.endpoint_service.DeployModelOperator",
                                      plan["deploy_endpoint"]),
            "await_endpoint": _empty("await_endpoint", "DeployModelOperator waits for the deployment itself.")}


def invoke(endpoint: dict, rows: list[dict]) -> list[float]:
    raise NotImplementedError("online serving on the gcp profile is not built yet (plan_serving refuses first)")


# ---- landing, housekeeping ---------------------------------------------------------------------

def convert_drops_operator():
    s = gcp_settings.load()
    if s.get("landing_converter") != "dataflow":
        return _empty("convert_drops", "Drops are read as they are by `land_drops` (CONTRAIL_LANDING_CONVERTER=dataflow "
                                       "converts them with a Dataflow template first).")
    from contrail.drops import landing_url

    request = {"template": s.get("dataflow_template"), "job_name": "contrail-convert-drops",
               "parameters": {"landing_url": landing_url()}, "project_id": s.get("project"), "location": s.get("region"),
               "gcp_conn_id": s.get("conn_id"), "deferrable": True, "append_job_name": True}
    return _cloud("convert_drops", "operators.dataflow.DataflowTemplatedJobStartOperator", request)


apply_lake_policy = slots.settings_first(f"{HERE}.housekeeping:apply_lake_policy", SETTINGS)
reap = slots.settings_first(f"{HERE}.reaper:reap", SETTINGS)
