"""Training, tuning and the registry mirror of the azure profile, run through the training DAG against the Azure ML
ARM peer and Azurite: the real azure-ai-ml SDK PUTs the jobs and the model version the plan built, and the twin
(tests/azure_ml_twin.py) plays each job by running the training entry point over a copy of the lake, mounts mapped
from the job's azureml:// datastore paths. Only the hook's credential is replaced (a token that never reaches
Entra ID)."""

from __future__ import annotations

import json

import pytest
from azure_ml_twin import FAILED, AzureMLTwin
from conftest import AZURE_LAKE
from dag_checks import champion, states
from test_azureml import PeerCredential, connection, sweep_search_space

from contrail import storage

pytestmark = [pytest.mark.airflow, pytest.mark.spark,
              pytest.mark.filterwarnings("ignore::marshmallow.warnings.RemovedInMarshmallow4Warning",
                                         "ignore::marshmallow.warnings.ChangedInMarshmallow4Warning")]
WINDOW = ("2013-08-01", "2013-08-10")
MODEL = "azure_delay"
IMAGE = "contrailml.azurecr.io/contrail-training:test"
LAKE = "azureml://datastores/lake/paths/contrail"  # the datastore `lake` is the lake's container; the lake's prefix
COMMAND = ("python -m contrail.training.job --spec ${{inputs.spec}} --features ${{inputs.features}} "
           "--output ${{outputs.output}}")
SETTINGS = {"CONTRAIL_AZUREML_COMPUTE": "cpu-cluster", "CONTRAIL_AZUREML_DATASTORE": "lake",
            "CONTRAIL_AZUREML_TRAINING_IMAGE": IMAGE, "CONTRAIL_MODEL_NAME": MODEL}


@pytest.fixture(scope="module")
def workspace(azure):
    """The Azure ML workspace (the ARM peer playing its jobs), its connection and the azure settings of Azure ML."""
    from contrail_plugins.azureml.hook import AzureMLHook
    from emulators import AZURITE_ACCOUNT

    with AzureMLTwin({"lake": f"abfs://{AZURE_LAKE}@{AZURITE_ACCOUNT}.dfs.core.windows.net"}) as twin, \
            pytest.MonkeyPatch.context() as patch:
        patch.setenv("REQUESTS_CA_BUNDLE", str(twin.ca_bundle))
        patch.delenv("AZUREML_CURRENT_CLOUD", raising=False)  # MLClient sets it for the process: undone after
        patch.setenv("AIRFLOW_CONN_AZURE_ML_DEFAULT", connection(twin))
        patch.setattr(AzureMLHook, "get_credential", lambda hook: PeerCredential())
        for key, value in SETTINGS.items():
            patch.setenv(key, value)
        yield twin
    assert twin.unknown == [] and twin.errors == [], twin.unknown + twin.errors


@pytest.fixture(scope="module")
def window(workspace):
    import synthetic_features as synthetic

    return synthetic.write_days(WINDOW[0], 10)


@pytest.fixture(scope="module")
def trained(workspace, azure_dags, window):
    return azure_dags.get_dag("contrail_training").test(run_conf={"start": WINDOW[0], "end": WINDOW[1], "tune": False})


def put_job(twin, name: str) -> dict:
    (call,) = [c for c in twin.calls("put_job") if c.path.endswith(f"/jobs/{name}")]
    return call.body["properties"]


def environment_of(twin, job: dict) -> str:
    """The image of the anonymous environment version the SDK put for the job (its environmentId)."""
    version = job.pop("environmentId").rsplit("/environments/", 1)[1].split("/versions/")
    return twin.environments[tuple(version)]["properties"]["image"]


def tags(run, days=WINDOW) -> dict:
    return {"contrail:dag_id": "contrail_training", "contrail:run_id": run.run_id, "contrail:step": "train",
            "contrail:days": "..".join(days)}


def rest_search_space() -> dict:
    """The sweep's search space as the SDK sends it ([kind, [min, max(, q)]]), of the CLI v2 one tests/platforms/
    test_azureml.py builds (and pins the REST form of) independently of the product's builder."""
    from contrail.training import model

    return {name: [p["type"], [p["min_value"], p["max_value"], *([p["q"]] if "q" in p else [])]]
            for name, p in sweep_search_space(model.SEARCH_SPACE).items()}


def mounts(name: str, output: str) -> dict:
    return {"inputs": {"spec": {"uri": f"{LAKE}/training/jobs/{name}/spec.json", "jobInputType": "uri_file",
                                "mode": "ReadOnlyMount"},
                       "features": {"uri": f"{LAKE}/features/", "jobInputType": "uri_folder", "mode": "ReadOnlyMount"}},
            "outputs": {"output": {"uri": f"{LAKE}/training/jobs/{name}/{output}/", "jobOutputType": "uri_folder",
                                   "mode": "ReadWriteMount"}}}


def test_a_command_job_trains_the_model_that_mlflow_registers_and_the_gate_promotes(workspace, trained, window):
    got = states(trained)
    assert trained.state == "success", got
    assert (got["train.submit_training"], got["train.await_training"], got["train.submit_tuning"],
            got["train.register"], got["promote"]) == ("success", "success", "skipped", "success", "success")
    mv = champion(MODEL)
    name = mv.tags["contrail.job"]
    assert mv.tags["contrail.platform"] == "azure" and mv.tags["contrail.window"] == "..".join(WINDOW)
    assert name.startswith("contrail-train-20130801-20130810-")

    job = put_job(workspace, name)
    assert set(job.pop("properties")) <= {"mlflow.source.git.branch", "mlflow.source.git.commit", "azureml.git.dirty",
                                          "mlflow.source.git.repoURL"}  # the SDK adds the worker folder's git state
    assert environment_of(workspace, job) == IMAGE
    assert job == {
        "jobType": "Command", "displayName": name, "experimentName": "contrail_training", "isArchived": False,
        "command": COMMAND, "computeId": f"{workspace.workspace_id}/computes/cpu-cluster",
        "environmentVariables": {"CONTRAIL_DAG_ID": "contrail_training", "CONTRAIL_RUN_ID": trained.run_id},
        "tags": tags(trained), "resources": {"instanceCount": 1, "properties": {}}, "queueSettings": {"jobTier": "Spot"},
        "limits": {"timeout": "PT1H", "jobLimitsType": "Command"}, **mounts(name, "output")}
    (played,) = [argv for job_name, argv in workspace.played if job_name == name]
    assert played[0::2] == ["--spec", "--features", "--output"]  # the command's references, mounted
    result = json.loads(storage.location(f"training/jobs/{name}/output/result.json").read_text())
    assert result["spec"]["split"]["holdout"] == list(window[-2:])
    assert float(mv.tags["contrail.holdout_roc_auc"]) == pytest.approx(result["holdout"]["roc_auc"], abs=1e-6)


def test_the_promoted_version_is_mirrored_as_an_azure_ml_model_version_of_the_jobs_model(workspace, trained):
    assert states(trained)["mirror_model.register_version"] == "success"
    mv = champion(MODEL)
    name = mv.tags["contrail.job"]
    (put,) = [c for c in workspace.calls("put_model_version") if f"/models/{MODEL}/versions/" in c.path]
    assert put.path == f"{workspace.workspace_id}/models/{MODEL}/versions/{mv.version}"
    sub, group, ws = workspace.scope
    holdout = {k: f"{float(mv.tags[f'contrail.holdout_{k}']):.4f}" for k in ("roc_auc", "pr_auc")}
    assert put.body == {"properties": {
        "description": f"{MODEL} v{mv.version}, window {'..'.join(WINDOW)}, job {name} (MLflow is the registry of record)",
        "tags": {**tags(trained) | {"contrail:step": "mirror_model"}, "mlflow_version": str(mv.version),
                 "mlflow_run_id": mv.tags["contrail.run_id"], "decision": "promoted",
                 **{f"holdout_{k}": v for k, v in holdout.items()}},
        "properties": {}, "modelType": "mlflow_model", "isAnonymous": False, "isArchived": False,
        "modelUri": f"azureml://subscriptions/{sub}/resourcegroups/{group}/workspaces/{ws}/datastores/lake/paths/"
                    f"contrail/training/jobs/{name}/output/model/"}}
    assert storage.location(f"training/jobs/{name}/output/model/MLmodel").exists()  # what the path points at


def test_a_sweep_searches_the_space_and_its_best_trial_is_registered(workspace, azure_dags, trained):
    from contrail.registry import tracking

    run = azure_dags.get_dag("contrail_training").test(
        run_conf={"start": WINDOW[0], "end": WINDOW[1], "tune": True, "n_trials": 2, "timeout_minutes": 5})
    got = states(run)
    assert run.state == "success", got
    assert (got["train.submit_tuning"], got["train.await_tuning"], got["train.submit_training"]) == ("success", "success", "skipped")
    (mv,) = [v for v in tracking.client().search_model_versions(f"name='{MODEL}'")
             if v.tags["contrail.job"].startswith("contrail-tune-")]
    name = mv.tags["contrail.job"]
    job = put_job(workspace, name)
    job.pop("properties")
    assert environment_of(workspace, job["trial"]) == IMAGE
    flags = " ".join(f"--{p} ${{{{search_space.{p}}}}}" for p in ("n_estimators", "learning_rate", "num_leaves",
                                                                   "min_child_samples", "colsample_bytree", "subsample",
                                                                   "reg_lambda"))
    assert job == {
        "jobType": "Sweep", "displayName": name, "experimentName": "contrail_training", "isArchived": False,
        "tags": tags(run), "computeId": f"{workspace.workspace_id}/computes/cpu-cluster",
        "trial": {"command": f"{COMMAND} {flags}",
                  "environmentVariables": {"CONTRAIL_DAG_ID": "contrail_training", "CONTRAIL_RUN_ID": run.run_id}},
        "searchSpace": rest_search_space(),
        "objective": {"primaryMetric": "validation_roc_auc", "goal": "maximize"},
        "samplingAlgorithm": {"samplingAlgorithmType": "Random"},
        "limits": {"maxTotalTrials": 2, "maxConcurrentTrials": 2, "timeout": "PT5M", "trialTimeout": "PT5M",
                   "jobLimitsType": "Sweep"},
        "queueSettings": {"jobTier": "Spot"}, **mounts(name, "trials/${{name}}")}
    # each trial logged its metric to its MLflow run (job.report_azureml), the number its result.json holds
    trials = {t: json.loads(storage.location(f"training/jobs/{name}/trials/{t}/result.json").read_text())
              for t in (f"{name}_1", f"{name}_2")}
    assert {t: r["validation"]["roc_auc"] for t, r in trials.items()} == pytest.approx(
        {t: workspace.trial_metrics[t] for t in trials})
    best = max(trials, key=lambda t: trials[t]["validation"]["roc_auc"])
    assert trials[best]["validation"]["roc_auc"] != min(r["validation"]["roc_auc"] for r in trials.values())
    params = tracking.client().get_run(mv.tags["contrail.run_id"]).data.params
    assert int(params["num_leaves"]) == trials[best]["params"]["num_leaves"]
    assert float(params["learning_rate"]) == pytest.approx(trials[best]["params"]["learning_rate"])


def test_a_failed_job_fails_the_run_with_its_error_and_the_end_of_its_log(workspace, azure_dags, trained, capfd):
    workspace.fail_training = True
    try:
        run = azure_dags.get_dag("contrail_training").test(run_conf={"start": WINDOW[0], "end": WINDOW[1], "tune": False})
    finally:
        workspace.fail_training = False
    text = "".join(capfd.readouterr())
    got = states(run)
    assert run.state == "failed" and got["train.submit_training"] == "failed", got
    assert got["train.await_training"] == got["train.register"] == "upstream_failed"
    assert f"is Failed: {FAILED}" in text  # Azure ML's error, then the tail of the job's std_log.txt
    assert "JobError: no features for 2013-08-01" in text


@pytest.mark.parametrize("variable", ["CONTRAIL_AZUREML_COMPUTE", "CONTRAIL_AZUREML_DATASTORE",
                                      "CONTRAIL_AZUREML_TRAINING_IMAGE"])
def test_a_missing_setting_fails_the_plan_naming_it(workspace, monkeypatch, variable):
    from contrail.config import ConfigError
    from contrail.platforms import azure as platform
    from contrail.platforms.naming import Names
    from contrail.training import job

    monkeypatch.delenv(variable)
    split = {"train": ["2013-08-01"], "validation": ["2013-08-02"], "holdout": ["2013-08-03"]}
    before = len(workspace.requests)
    for tune in (False, True):
        with pytest.raises(ConfigError, match=f"^{variable} is not set: "):
            platform.plan_training(job.spec(split, tune=tune), Names("contrail_training", "train", "manual__x", ()), "job-x")
    assert len(workspace.requests) == before  # nothing reached the workspace


def test_a_sweep_trial_logs_its_metric_to_mlflow_only_inside_azure_ml(tmp_path, capsys):
    import mlflow

    from contrail.training import job

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = mlflow.MlflowClient(tracking_uri=uri)
    run_id = client.create_run(client.create_experiment("trial")).info.run_id
    job.report_azureml(0.71, {"MLFLOW_TRACKING_URI": uri, "MLFLOW_RUN_ID": run_id})  # not in Azure ML: nothing
    assert client.get_metric_history(run_id, "validation_roc_auc") == []
    job.report_azureml(0.72, {"AZUREML_RUN_ID": "trial-1", "MLFLOW_TRACKING_URI": uri, "MLFLOW_RUN_ID": run_id})
    assert [m.value for m in client.get_metric_history(run_id, "validation_roc_auc")] == [0.72]
    job.report_azureml(0.73, {"AZUREML_RUN_ID": "trial-1", "MLFLOW_TRACKING_URI": "nosuchscheme://x"})
    assert "warning: validation_roc_auc not logged to the trial's MLflow run" in capsys.readouterr().out
