"""Contrail's Azure ML operators, hook and trigger (plugins/contrail_plugins/azureml) against the ARM peer
(tests/azureml_peer.py): the real azure-ai-ml SDK sends what the operators make of a CLI v2 job or model dict, the peer
keeps it, and the statuses the peer is given are what the operators act on. Only the hook's credential is replaced
(a token that never reaches Entra ID); every route the SDK calls must be one the peer knows.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time
from pathlib import Path

import jwt
import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred
from azure.core.credentials import AccessToken
from azureml_peer import AzureMLPeer
from contrail.training import model
from contrail_plugins.azureml.hook import AzureMLHook
from contrail_plugins.azureml.operators import (
    AzureMLJobOperator,
    AzureMLRegisterModelOperator,
)
from contrail_plugins.azureml.trigger import AzureMLJobTrigger
from gcp_binding import operator_context, resume, run_trigger

# the SDK's own schemas warn of marshmallow 4 at every load
pytestmark = pytest.mark.filterwarnings("ignore::marshmallow.warnings.RemovedInMarshmallow4Warning",
                                        "ignore::marshmallow.warnings.ChangedInMarshmallow4Warning")

TENANT = "7f0c6f0e-2b0b-4f43-9a55-0d8f4a3c1a11"
KEY = "the Azure ML peer does not check signatures"
IMAGE = "contrailml.azurecr.io/contrail/training:v7"
LAKE = "azureml://datastores/lake/paths/contrail"
TAGS = {"contrail-dag": "contrail_training", "contrail-run": "manual__1"}
SUBMIT = ["get_job", "put_environment_version", "put_job"]  # a new job: not found, its image, the job
ERROR_READ = ["get_workspace", "get_discovery", "get_run_details", "get_log", "get_log"]  # a failed job's story
COMMAND = {
    "$schema": "https://azuremlschemas.azureedge.net/latest/commandJob.schema.json",
    "type": "command", "name": "contrail-training-train-manual-1", "display_name": "train",
    "experiment_name": "contrail_training",
    "command": "python -m contrail.training.job --spec ${{inputs.spec}} --features ${{inputs.features}}",
    "environment": IMAGE, "compute": "azureml:cpu-cluster",
    "environment_variables": {"CONTRAIL_TAG_RUN": "manual__1"}, "tags": TAGS,
    "resources": {"instance_count": 1}, "queue_settings": {"job_tier": "spot"}, "limits": {"timeout": 3600},
    "inputs": {"spec": {"type": "uri_file", "path": f"{LAKE}/training/jobs/job-1/spec.json"},
               "features": {"type": "uri_folder", "path": f"{LAKE}/features/"}},
    "outputs": {"model": {"type": "uri_folder", "path": f"{LAKE}/training/jobs/job-1/model/"}},
}
MODEL = {"name": "flights_delay", "version": "7", "type": "mlflow_model", "path": f"{LAKE}/training/jobs/job-1/model/",
         "tags": TAGS, "description": "LightGBM delay classifier trained on 2013-08-01..2013-08-03"}


class PeerCredential:
    """A token credential that never reaches Entra ID: a JWT of the tenant (the SDK reads its `tid` for the studio
    URL) signed with a key nobody checks."""

    def get_token(self, *scopes, **kwargs) -> AccessToken:
        expires = int(time.time()) + 3600
        return AccessToken(jwt.encode({"tid": TENANT, "exp": expires}, KEY, algorithm="HS256"), expires)


def connection(peer: AzureMLPeer, *, drop: str | None = None, **fields) -> str:
    """An AIRFLOW_CONN_* value of the peer's workspace, without the extra `drop`."""
    extra = {"tenant_id": TENANT, "subscription_id": peer.scope[0], "resource_group": peer.scope[1],
             "workspace_name": peer.scope[2], "resource_manager_url": peer.url}
    return json.dumps({"conn_type": "generic", **fields, "extra": {k: v for k, v in extra.items() if k != drop}})


@pytest.fixture
def peer(monkeypatch):
    with AzureMLPeer() as peer:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(peer.ca_bundle))
        monkeypatch.delenv("AZUREML_CURRENT_CLOUD", raising=False)  # MLClient sets it for the process: undone after
        monkeypatch.setenv("AIRFLOW_CONN_AZURE_ML_DEFAULT", connection(peer))
        yield peer
    assert peer.unknown == [] and peer.errors == [], peer.unknown + peer.errors


@pytest.fixture
def workspace(peer, monkeypatch):
    monkeypatch.setattr(AzureMLHook, "get_credential", lambda hook: PeerCredential())
    return peer


def job_operator(job: dict = COMMAND, **kwargs) -> AzureMLJobOperator:
    return AzureMLJobOperator(task_id="train_on_azureml", job=job, poll_interval=0.05, **kwargs)


def deferred(operator, context) -> TaskDeferred:
    with pytest.raises(TaskDeferred) as raised:
        operator.execute(context)
    assert isinstance(raised.value.trigger, AzureMLJobTrigger) and raised.value.method_name == "execute_complete"
    return raised.value


def sweep_search_space(space: dict) -> dict:
    """SEARCH_SPACE as a sweep's search_space. Azure ML's loguniform draws exp(uniform(min_value, max_value)), so its
    bounds are the logs of ours; integers are quniform / qloguniform with q 1, since randint(upper) has no lower bound
    (it draws from [0, upper))."""
    built = {}
    for name, p in space.items():
        low, high = (math.log(p.low), math.log(p.high)) if p.log else (p.low, p.high)
        kind = ("q" if p.kind == "int" else "") + ("loguniform" if p.log else "uniform")
        built[name] = {"type": kind, "min_value": low, "max_value": high, **({"q": 1} if p.kind == "int" else {})}
    return built


def test_a_command_job_is_put_as_asked_and_completes_through_the_trigger(workspace):
    peer, context = workspace, operator_context()
    defer = deferred(job_operator(), context)
    assert peer.names() == SUBMIT
    environment = peer.calls("put_environment_version")[0]
    assert environment.body == {"properties": {"image": IMAGE, "isAnonymous": True, "isArchived": False}}
    job = peer.body("put_job")["properties"]
    git = job.pop("properties")  # the SDK adds the git branch and commit of the worker's folder
    assert set(git) <= {"mlflow.source.git.branch", "mlflow.source.git.commit", "azureml.git.dirty",
                        "mlflow.source.git.repoURL"}
    assert job == {
        "jobType": "Command", "displayName": "train", "experimentName": "contrail_training", "isArchived": False,
        "command": COMMAND["command"], "computeId": f"{peer.workspace_id}/computes/cpu-cluster",
        "environmentId": environment.path,  # the anonymous environment the SDK put first
        "environmentVariables": {"CONTRAIL_TAG_RUN": "manual__1"}, "tags": TAGS,
        "resources": {"instanceCount": 1, "properties": {}}, "queueSettings": {"jobTier": "Spot"},
        "limits": {"timeout": "PT1H", "jobLimitsType": "Command"},
        "inputs": {"spec": {"uri": f"{LAKE}/training/jobs/job-1/spec.json", "jobInputType": "uri_file"},
                   "features": {"uri": f"{LAKE}/features/", "jobInputType": "uri_folder"}},
        "outputs": {"model": {"uri": f"{LAKE}/training/jobs/job-1/model/", "jobOutputType": "uri_folder"}}}
    studio = (f"https://ml.azure.com/runs/{COMMAND['name']}?wsid=/subscriptions/sub-1/resourcegroups/rg-ml/"
              f"workspaces/ws-ml&tid={TENANT}")
    assert context["ti"].xcom["contrail_console_url"] == studio

    peer.finish(COMMAND["name"], "Completed", after_reads=2)
    result = resume(job_operator(), context, defer)
    assert peer.names() == SUBMIT + ["get_job"] * 3  # Running, Running, Completed: the trigger polled until the end
    assert result == {"name": COMMAND["name"], "type": "command", "status": "Completed", "display_name": "train",
                      "experiment_name": "contrail_training", "studio_url": studio}


def test_a_sweep_over_our_search_space_is_put_as_asked_and_waited_for_in_the_worker(workspace):
    peer = workspace
    sweep = {"$schema": "https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json", "type": "sweep",
             "name": "contrail-training-tune-manual-1", "display_name": "tune", "experiment_name": "contrail_training",
             "tags": TAGS, "trial": {"command": "python -m contrail.training.job " + " ".join(
                 f"--{name} ${{{{search_space.{name}}}}}" for name in model.SEARCH_SPACE), "environment": IMAGE,
                 "environment_variables": {"CONTRAIL_TAG_RUN": "manual__1"}},
             "compute": "azureml:cpu-cluster", "sampling_algorithm": "random",
             "search_space": sweep_search_space(model.SEARCH_SPACE),
             "objective": {"primary_metric": "auc", "goal": "maximize"},
             "limits": {"max_total_trials": 6, "max_concurrent_trials": 2, "timeout": 600},
             "queue_settings": {"job_tier": "spot"}}
    peer.finish(sweep["name"], "Completed", after_reads=1)
    result = job_operator(sweep, deferrable=False).execute(operator_context())
    assert result["status"] == "Completed" and result["type"] == "sweep"
    assert peer.names() == SUBMIT + ["get_job"] * 2  # the worker's polls: Running, Completed

    job = peer.body("put_job")["properties"]
    job.pop("properties")
    environment = job["trial"].pop("environmentId")
    assert peer.environments[tuple(environment.rsplit("/environments/", 1)[1].split("/versions/"))][
        "properties"]["image"] == IMAGE
    assert job == {
        "jobType": "Sweep", "displayName": "tune", "experimentName": "contrail_training", "isArchived": False,
        "tags": TAGS, "computeId": f"{peer.workspace_id}/computes/cpu-cluster",
        "trial": {"command": sweep["trial"]["command"], "environmentVariables": {"CONTRAIL_TAG_RUN": "manual__1"}},
        "searchSpace": {
            "n_estimators": ["quniform", [50, 400, 1]],
            "learning_rate": ["loguniform", [math.log(0.02), math.log(0.3)]],
            "num_leaves": ["qloguniform", [math.log(8), math.log(128), 1]],
            "min_child_samples": ["qloguniform", [math.log(10), math.log(200), 1]],
            "colsample_bytree": ["uniform", [0.5, 1.0]], "subsample": ["uniform", [0.5, 1.0]],
            "reg_lambda": ["loguniform", [math.log(1e-3), math.log(10.0)]]},
        "objective": {"primaryMetric": "auc", "goal": "maximize"},
        "samplingAlgorithm": {"samplingAlgorithmType": "Random"},
        "limits": {"maxTotalTrials": 6, "maxConcurrentTrials": 2, "timeout": "PT10M", "jobLimitsType": "Sweep"},
        "queueSettings": {"jobTier": "Spot"}, "inputs": {}, "outputs": {}}


@pytest.mark.parametrize("status,error", [
    ("Failed", "Execution failed. User process 'python' exited with status code 1."),
    ("Canceled", "The job was canceled by airflow@contoso.com.")])
def test_a_failed_or_canceled_job_fails_the_task_with_its_error_and_the_end_of_its_log(workspace, status, error):
    peer, context = workspace, operator_context()
    defer = deferred(job_operator(), context)
    lines = [f"epoch {i}: training on 2013-08-01" for i in range(400)]  # 13 KB: only the end is read
    log = "\n".join(lines + ["ValueError: no features for JFK"])
    peer.finish(COMMAND["name"], status, error=error, log=log)
    with pytest.raises(AirflowFailException) as raised:
        resume(job_operator(), context, defer)
    message = str(raised.value)
    assert message.startswith(f"the Azure ML job {COMMAND['name']} is {status}: {error}\n")
    assert message.endswith(f"{lines[-1]}\nValueError: no features for JFK") and lines[0] not in message
    assert "--- the end of user_logs/std_log.txt ---" in message and len(message) < 4500
    assert peer.names() == SUBMIT + ["get_job"] + ERROR_READ
    assert [(c.method, c.headers.get("Range")) for c in peer.calls("get_log")] == [
        ("HEAD", None), ("GET", f"bytes={len(log.encode()) - 4096}-")]


def test_a_retried_task_re_attaches_to_its_job_and_never_puts_it_twice(workspace):
    peer, context = workspace, operator_context()
    deferred(job_operator(), context)
    deferred(job_operator(), context)  # the retry: the job is Running, it waits for it again
    assert peer.names() == SUBMIT + ["get_job"] and len(peer.calls("put_job")) == 1

    peer.finish(COMMAND["name"], "Completed")
    assert job_operator().execute(context)["status"] == "Completed"  # already done: no deferral
    failed = {**COMMAND, "name": "contrail-training-train-manual-2"}
    deferred(job_operator(failed), context)
    peer.finish(failed["name"], "Failed", error="OOM: the process was killed")
    with pytest.raises(AirflowFailException, match="manual-2 is Failed: OOM: the process was killed"):
        job_operator(failed).execute(context)
    assert len(peer.calls("put_job")) == 2  # one a name


def test_the_trigger_serializes_to_its_importable_classpath_and_back():
    import importlib

    trigger = AzureMLJobTrigger(conn_id="azure_ml_prod", job_name="contrail-training-train-manual-1", poll_interval=30)
    classpath, kwargs = trigger.serialize()
    assert classpath == "contrail_plugins.azureml.trigger.AzureMLJobTrigger"
    assert kwargs == {"conn_id": "azure_ml_prod", "job_name": "contrail-training-train-manual-1", "poll_interval": 30}
    module, _, name = classpath.rpartition(".")
    assert getattr(importlib.import_module(module), name)(**kwargs).serialize() == (classpath, kwargs)


def test_the_trigger_reports_a_job_it_cannot_read_as_an_error(workspace):
    event = run_trigger(AzureMLJobTrigger("azure_ml_default", "no-such-job", 0.05))
    assert event["status"] == "error" and event["job_status"] is None
    assert event["message"].startswith("polling the Azure ML job no-such-job failed: ResourceNotFoundError")
    assert "Could not find job no-such-job" in event["message"]


def test_cancel_and_on_kill_cancel_the_job(workspace):
    peer, hook = workspace, AzureMLHook()
    deferred(job_operator(), operator_context())
    hook.cancel(COMMAND["name"])
    assert peer.names()[-2:] == ["cancel_job", "get_operation"]
    assert hook.get_job(COMMAND["name"])["status"] == "Canceled"

    other, raised = {**COMMAND, "name": "contrail-training-train-manual-3"}, []
    operator = job_operator(other, deferrable=False)

    def run():
        try:
            operator.execute(operator_context())
        except AirflowException as e:
            raised.append(e)

    (worker := threading.Thread(target=run)).start()
    deadline = time.monotonic() + 10
    while operator.waiting_for is None and time.monotonic() < deadline:
        time.sleep(0.02)
    operator.on_kill()  # as the worker does when the task is killed
    worker.join(10)
    assert peer.job(other["name"])["properties"]["status"] == "Canceled"
    assert len(raised) == 1 and "manual-3 is Canceled: The job was canceled." in str(raised[0])


def test_a_model_version_is_put_once_and_a_second_path_for_it_is_refused(workspace):
    peer = workspace
    registered = AzureMLRegisterModelOperator(task_id="register_model", model=MODEL).execute(operator_context())
    assert peer.names() == ["get_model_version", "list_model_versions", "put_model_version"]
    put = peer.calls("put_model_version")[0]
    assert put.path == f"{peer.workspace_id}/models/flights_delay/versions/7"
    long_path = f"azureml://subscriptions/sub-1/resourcegroups/rg-ml/workspaces/ws-ml/{MODEL['path'][10:]}"
    assert put.body == {"properties": {"description": MODEL["description"], "tags": TAGS, "properties": {},
                                       "modelType": "mlflow_model", "modelUri": long_path, "isAnonymous": False,
                                       "isArchived": False}}
    assert registered == {"name": "flights_delay", "version": "7", "type": "mlflow_model", "path": long_path,
                          "id": f"{peer.workspace_id}/models/flights_delay/versions/7", "tags": TAGS,
                          "description": MODEL["description"]}

    assert AzureMLHook().register_model(MODEL) == registered  # the retry
    blob = {**MODEL, "path": "https://contraillake.blob.core.windows.net/lake/contrail/models/7/"}
    with pytest.raises(AirflowException, match=f"exists with the path {long_path}, not {blob['path']}"):
        AzureMLHook().register_model(blob)
    assert len(peer.calls("put_model_version")) == 1
    with pytest.raises(AirflowException, match="nothing is uploaded from the worker"):
        AzureMLHook().register_model({**MODEL, "version": "8", "path": "./model"})
    AzureMLHook().register_model({**blob, "version": "8"})
    assert peer.calls("put_model_version")[-1].body["properties"]["modelUri"] == blob["path"]


@pytest.mark.parametrize("extra,what", [
    ("subscription_id", "the Azure subscription id of the workspace"),
    ("resource_group", "the resource group of the workspace"),
    ("workspace_name", "the Azure ML workspace name")])
def test_a_connection_without_its_workspace_fails_naming_the_missing_extra(peer, monkeypatch, extra, what):
    monkeypatch.setenv("AIRFLOW_CONN_AZURE_ML_DEFAULT", connection(peer, drop=extra))
    with pytest.raises(AirflowException) as raised:
        job_operator().execute(operator_context())
    assert str(raised.value) == f"the Airflow connection 'azure_ml_default' has no extra '{extra}': set it to {what}"
    assert peer.requests == []


def test_the_credential_is_the_service_principal_of_the_login_else_the_default_chain(peer, monkeypatch):
    from azure.identity import ClientSecretCredential, DefaultAzureCredential

    monkeypatch.setenv("AIRFLOW_CONN_AZURE_ML_SP", connection(peer, login="app-id", password="secret"))
    credential = AzureMLHook("azure_ml_sp").get_credential()
    assert isinstance(credential, ClientSecretCredential) and credential._tenant_id == TENANT
    monkeypatch.setenv("AIRFLOW_CONN_AZURE_ML_SP", connection(peer, drop="tenant_id", login="app-id", password="s"))
    with pytest.raises(AirflowException, match="no extra 'tenant_id': set it to the Microsoft Entra tenant id"):
        AzureMLHook("azure_ml_sp").get_credential()
    monkeypatch.setenv("AIRFLOW_CONN_AZURE_ML_SP", connection(peer, login="app-id"))
    with pytest.raises(AirflowException, match="needs both a login"):
        AzureMLHook("azure_ml_sp").get_credential()
    assert isinstance(AzureMLHook().get_credential(), DefaultAzureCredential)
    assert peer.requests == []


def test_importing_the_operators_does_not_import_the_azure_sdk():
    plugins = Path(__file__).resolve().parents[2] / "plugins"
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import contrail_plugins.azureml.operators; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'azure'))")
    out = subprocess.run([sys.executable, "-c", code, str(plugins)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
