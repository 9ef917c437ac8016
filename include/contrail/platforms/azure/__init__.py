"""The Azure platform: Spark on a long-lived HDInsight cluster through its Livy endpoint, training and tuning on
Azure ML, Blob storage (ADLS Gen2) for the lake with a lifecycle policy on raw/. Settings: `settings.TABLE`.

The Spark steps are the apache-livy provider's LivyOperator (submit) and Contrail's LivyBatchSensor (the wait,
deferred to the provider's LivyTrigger), built when their tasks run (CloudOperator), so the DAG files parse
without any Azure SDK. Requests come from the pure builders in hdinsight.py; names and tags from naming.Names (a
retry re-attaches to the batch its first try submitted).

The reaper (reaper.py) stops the Livy batches and Azure ML jobs of ended runs.

Training and tuning are Azure ML command and sweep jobs (Contrail's AzureMLJobOperator), the registry mirror an Azure
ML model version pointing at the model the job wrote (training.py).

Not built yet on this profile, refused by the plan with a ConfigError that says so (the DAGs keep the same tasks
on every profile): a managed online endpoint, batch endpoints for scoring; Data Factory as the landing
converter is not offered (drops are read as they are).
"""

from __future__ import annotations

from contrail.platforms import slots
from contrail.platforms.azure import settings as azure_settings

NAME = "azure"
HERE = "contrail.platforms.azure"
SETTINGS = f"{HERE}.settings:load"
LIVY = "airflow.providers.apache.livy.operators.livy.LivyOperator"
_cloud, _empty = slots.cloud(None), slots.empty  # the apache-livy provider's and Contrail's operators, named in full


def _not_built(what: str):
    from contrail.config import ConfigError

    raise ConfigError(f"{what} on the azure profile is not built yet (see the README's platform table): "
                      f"run this DAG on the local, aws or gcp profile")


# ---- Spark jobs on HDInsight -------------------------------------------------------------------

def plan_spark(job: str, argv: list[str], names) -> dict:
    from contrail.platforms import cost
    from contrail.platforms.azure import account, hdinsight

    s = azure_settings.load()
    livy = hdinsight.livy(s)
    account.require_container(hdinsight.code(s), "CONTRAIL_AZURE_CODE_URI", s)
    account.require_container(account.lake_root(), "CONTRAIL_DATA_ROOT", s)
    stay = "the long-lived HDInsight cluster stays up (it is not started or stopped per run)"
    return {"start_cluster": dict(livy), "submit_job": hdinsight.batch_request(job, argv, s, names, livy),
            "await_job": hdinsight.wait_request(job, s, livy), "stop_cluster": stay,
            "cost": cost.estimate(hdinsight.cost_lines(s), cost.prices(), cost.spot_discount())}


def spark_operators(job: str, plan) -> dict:
    from airflow.sdk import task

    here = f"{HERE}.hdinsight"

    @task(task_id="start_cluster")
    def check_cluster(request: dict) -> str:
        from contrail.platforms.azure import hdinsight

        return hdinsight.check_cluster(request)

    return {"start_cluster": check_cluster(plan["start_cluster"]),
            "submit_job": _cloud("submit_job", LIVY, plan["submit_job"], attach=f"{here}:find_batch", console=f"{here}:console"),
            "await_job": _cloud("await_job", "contrail_plugins.livy.LivyBatchSensor", plan["await_job"],
                                explain=f"{here}:explain", console=f"{here}:console"),
            "stop_cluster": _empty("stop_cluster", "The long-lived HDInsight cluster stays up.")}


def collect_scores(collect: dict) -> None:
    raise NotImplementedError("the HDInsight score job writes its predictions itself: its plan has nothing to collect")


# Spark inside a task (the quality engine): a Spark Connect endpoint, if one is configured
spark_session = slots.later("contrail.spark.connect:remote_session", NAME)


# ---- training, tuning and the registry mirror on Azure ML ---------------------------------------

plan_training = slots.later(f"{HERE}.training:plan")
job_output = slots.later(f"{HERE}.training:downloaded")
plan_mirror = slots.later(f"{HERE}.training:plan_mirror")


def training_operators(plan) -> dict:
    from contrail.platforms.azure import training

    return training.operators(plan, _cloud)


def mirror_operators(plan) -> dict:
    return {"register_version": _cloud("register_version", "contrail_plugins.azureml.operators.AzureMLRegisterModelOperator",
                                       plan["register_version"])}


# ---- serving: an Azure ML managed online endpoint (not built yet) ------------------------------

def plan_serving(model: str, version: str, names) -> dict:
    _not_built("online serving (an Azure ML managed online endpoint)")


def serving_operators(plan) -> dict:
    return {"deploy_endpoint": _empty("deploy_endpoint", "An Azure ML managed online endpoint (not built yet)."),
            "await_endpoint": _empty("await_endpoint", "An Azure ML managed online endpoint (not built yet).")}


def invoke(endpoint: dict, rows: list[dict]) -> list[float]:
    _not_built("online serving")


# ---- landing, housekeeping ---------------------------------------------------------------------

def convert_drops_operator():
    return _empty("convert_drops", "Drops are read as they are by `land_drops` (a Data Factory converter is not built yet "
                                   "on the azure profile).")


def apply_lake_policy() -> str:
    from contrail.platforms.azure import account, housekeeping

    return housekeeping.apply_lake_policy(azure_settings.load(), account.lake_root())


reap = slots.settings_first(f"{HERE}.reaper:reap", SETTINGS)
