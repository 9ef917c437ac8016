"""The Vertex AI peer (tests/vertex_peer.py) against the google provider's real operators, hooks and triggers and the
aiplatform SDK under them, fed the requests the gcp profile builds (contrail.platforms.gcp.vertex and registry): what
they send arrives decoded and equal, and the states the peer plays are what the operators and our helpers act on.
"""

from __future__ import annotations

import pytest
from airflow.providers.common.compat.sdk import AirflowException, TaskDeferred
from airflow.providers.google.cloud.hooks.vertex_ai.custom_job import CustomJobHook
from airflow.providers.google.cloud.hooks.vertex_ai.model_service import (
    ModelServiceHook,
)
from airflow.providers.google.cloud.operators.vertex_ai.custom_job import (
    CreateCustomJobOperator,
)
from airflow.providers.google.cloud.operators.vertex_ai.hyperparameter_tuning_job import (
    CreateHyperparameterTuningJobOperator,
)
from airflow.providers.google.cloud.operators.vertex_ai.model_service import (
    UploadModelOperator,
)
from contrail.platforms.gcp import account, registry, settings, vertex
from contrail.platforms.naming import Names
from contrail.training import model
from google.api_core.exceptions import (
    FailedPrecondition,
    InternalServerError,
    InvalidArgument,
    MethodNotImplemented,
    NotFound,
)
from google.cloud import aiplatform_v1 as v1
from google.cloud.aiplatform import hyperparameter_tuning as hpt
from vertex_binding import bound, operator_context, resume
from vertex_peer import VertexPeer

PROJECT, REGION = "contrail-prod", "europe-west1"
PARENT = f"projects/{PROJECT}/locations/{REGION}"
CONN = {"gcp_conn_id": "google_cloud_default", "project_id": PROJECT, "region": REGION}
ENV = {"CONTRAIL_GCP_PROJECT": PROJECT, "CONTRAIL_GCP_REGION": REGION,
       "CONTRAIL_VERTEX_SERVICE_ACCOUNT": "contrail-trainer@contrail-prod.iam.gserviceaccount.com",
       "CONTRAIL_VERTEX_TRAINING_IMAGE": "europe-docker.pkg.dev/contrail-prod/contrail/training:v7",
       "CONTRAIL_VERTEX_SERVING_IMAGE": "europe-docker.pkg.dev/contrail-prod/contrail/mlflow-pyfunc:3.17.2"}
NAMES = Names("contrail_training", "train", "manual__1", ("2013-08-01", "2013-08-03"))
LAKE = "gs://lake-bucket/contrail"
ARGS = ["--spec", "/gcs/lake-bucket/contrail/training/jobs/job-1/spec.json",
        "--features", "/gcs/lake-bucket/contrail/features"]
POOL = {"machine_spec": {"machine_type": "n2-standard-4"}, "replica_count": 1, "container_spec": {
    "image_uri": ENV["CONTRAIL_VERTEX_TRAINING_IMAGE"], "command": ["python", "-m", "contrail.training.job"], "args": ARGS,
    "env": [{"name": f"CONTRAIL_TAG_{k.split(':')[1].upper()}", "value": v} for k, v in NAMES.tags().items()]}}
SPEC = {"n_trials": 6, "timeout_s": 600.0, "tune": True}
FAILURE = "The replica workerpool0-0 exited with a non-zero status of 1."
TRIALS = [{"id": str(i), "parameters": [{"parameter_id": "learning_rate", "value": lr}],
           "final_measurement": {"metrics": [{"metric_id": vertex.METRIC, "value": auc}] if auc else []}}
          for i, (lr, auc) in enumerate([(0.05, 0.71), (0.1, 0.74), (0.2, None)], start=1)]


@pytest.fixture
def peer(monkeypatch):
    with VertexPeer() as peer, bound(peer, monkeypatch, project=PROJECT):
        yield peer
    assert peer.errors == []


def failing(job):
    return "FAILED", FAILURE


def training(**overrides) -> dict:
    """CreateCustomJobOperator's arguments as the gcp profile plans them (training.plan: the request and the conn)."""
    return {**vertex.training_request(settings.load(ENV), NAMES, "job-1", LAKE), **CONN, **overrides}


def tuning(**overrides) -> dict:
    """CreateHyperparameterTuningJobOperator's arguments as the gcp profile makes them (plan, then tuning_arguments)."""
    return vertex.tuning_arguments({**vertex.tuning_request(SPEC, settings.load(ENV), NAMES, "job-1", LAKE), **CONN,
                                    **overrides})


def run(operator, context, deferrable: bool, trigger: str):
    """The operator's run as a worker (and, deferred, a triggerer) would do it."""
    if not deferrable:
        return operator.execute(context)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)
    assert type(deferred.value.trigger).__name__ == trigger
    return resume(operator, context, deferred.value)


@pytest.mark.parametrize("deferrable", [False, True])
def test_our_training_request_is_the_custom_job_vertex_receives_and_it_runs_to_succeeded(peer, deferrable):
    request, context = training(deferrable=deferrable), operator_context()
    job = run(CreateCustomJobOperator(task_id="submit_training", **request), context, deferrable, "CustomJobTrigger")

    assert peer.methods() == ["CreateCustomJob", "GetCustomJob", "GetCustomJob"]  # deferred: the reads are the trigger's
    sent = peer.last("CreateCustomJob")
    assert sent.parent == PARENT and sent.custom_job == v1.CustomJob(request["custom_job"])
    custom, spec = sent.custom_job, sent.custom_job.job_spec
    pool = spec.worker_pool_specs[0]
    assert custom.display_name == "job-1" and dict(custom.labels) == account.labels(NAMES)
    assert pool.container_spec.image_uri == ENV["CONTRAIL_VERTEX_TRAINING_IMAGE"]
    assert (list(pool.container_spec.command), list(pool.container_spec.args)) == (POOL["container_spec"]["command"], ARGS)
    assert (pool.machine_spec.machine_type, pool.replica_count) == ("n2-standard-4", 1)
    assert spec.scheduling.strategy == v1.Scheduling.Strategy.SPOT and spec.scheduling.timeout.total_seconds() == 3600
    assert spec.service_account == ENV["CONTRAIL_VERTEX_SERVICE_ACCOUNT"]
    assert spec.base_output_directory.output_uri_prefix == f"{LAKE}/training/jobs/job-1/"

    job_id = job["name"].rsplit("/", 1)[-1]
    assert job["name"] == f"projects/{peer.number(PROJECT)}/locations/{REGION}/customJobs/{job_id}"
    assert job["state"] == v1.JobState.JOB_STATE_SUCCEEDED and context["ti"].xcom["custom_job_id"] == job_id
    ended = peer.job("job-1")
    assert ended.start_time <= ended.end_time and not ended.error.message
    assert vertex.console(request, job) == f"{vertex.CONSOLE}/locations/{REGION}/training/{job_id}?project={PROJECT}"


@pytest.mark.parametrize("deferrable", [False, True])
@pytest.mark.parametrize("player,state,raised,code", [
    (failing, "JOB_STATE_FAILED", FAILURE, 3), (lambda job: "CANCELLED", "JOB_STATE_CANCELLED", "has been cancelled", 1)])
def test_a_failed_or_cancelled_custom_job_raises_what_vertex_says(peer, deferrable, player, state, raised, code):
    peer.player = player
    request, context = training(deferrable=deferrable), operator_context()
    with pytest.raises(RuntimeError, match=raised):
        run(CreateCustomJobOperator(task_id="submit_training", **request), context, deferrable, "CustomJobTrigger")
    job = peer.job("job-1")
    assert (job.state.name, job.error.code) == (state, code) and job.error.message in (FAILURE, state)
    assert peer.methods() == ["CreateCustomJob", "GetCustomJob", "GetCustomJob"]


def test_the_list_filter_our_helpers_send_finds_the_job_only_inside_the_request(peer):
    CreateCustomJobOperator(task_id="submit_training", **training(deferrable=False)).execute(operator_context())
    client = CustomJobHook().get_job_service_client(REGION)
    found = list(client.list_custom_jobs(request={"parent": PARENT, "filter": 'display_name="job-1"'}))
    assert [j.name for j in found] == [peer.job("job-1").name]
    assert peer.last("ListCustomJobs").filter == 'display_name="job-1"'
    with pytest.raises(TypeError, match="unexpected keyword argument 'filter'"):  # why ours send it in the request
        client.list_custom_jobs(parent=PARENT, filter='display_name="job-1"')


def test_a_retried_training_re_attaches_to_its_job_unless_it_failed_and_explain_names_the_failure(peer):
    request, context = training(deferrable=False), operator_context()
    job = CreateCustomJobOperator(task_id="submit_training", **request).execute(context)
    assert vertex.find_training(request, context) == job
    peer.player = failing
    failed = training(deferrable=False, custom_job={**request["custom_job"], "display_name": "job-2"})
    with pytest.raises(RuntimeError, match=FAILURE) as raised:
        CreateCustomJobOperator(task_id="submit_training", **failed).execute(context)
    assert vertex.find_training(failed, context) is None  # a failed job is not re-attached to: a retry starts anew
    text, permanent = vertex.explain(failed, context, raised.value)
    assert permanent and f"({peer.job('job-2').name}) is JOB_STATE_FAILED: {FAILURE}" in text


def test_cancel_delete_and_list_filters_through_the_hook(peer):
    hook, where = CustomJobHook(), {"project_id": PROJECT, "region": REGION}
    job = hook.create_custom_job(custom_job=training()["custom_job"], **where)
    job_id = job.name.rsplit("/", 1)[-1]
    assert job.state.name == "JOB_STATE_PENDING" and peer.last("CreateCustomJob").parent == PARENT
    with pytest.raises(FailedPrecondition, match="only ended jobs are deleted"):
        hook.delete_custom_job(custom_job=job_id, **where)
    hook.cancel_custom_job(custom_job=job_id, **where)
    with pytest.raises(RuntimeError, match="The CustomJob has been cancelled"):
        hook.wait_for_custom_job(custom_job_id=job_id, poll_interval=1, **where)
    assert (peer.job("job-1").state.name, peer.job("job-1").error.code) == ("JOB_STATE_CANCELLED", 1)
    with pytest.raises(FailedPrecondition, match="cannot be cancelled"):
        hook.cancel_custom_job(custom_job=job_id, **where)

    other = {**training()["custom_job"], "display_name": "job-2", "labels": {"team": "contrail"}}
    hook.create_custom_job(custom_job=other, **where)
    listed = lambda f: [j.display_name for j in hook.list_custom_jobs(  # noqa: E731
        filter=f, page_size=None, page_token=None, read_mask=None, **where)]
    assert listed("") == ["job-1", "job-2"] and listed('displayName:"job-*"') == ["job-1", "job-2"]
    assert listed('state="JOB_STATE_PENDING" AND labels.team=contrail') == ["job-2"]
    assert listed('labels.contrail-step="train"') == ["job-1"] and listed('display_name != "job-1"') == ["job-2"]
    with pytest.raises(InvalidArgument, match="does not filter on 'create_time'"):
        listed('create_time="2013-01-01"')
    hook.wait_for_operation(hook.delete_custom_job(custom_job=job_id, **where))
    assert peer.methods()[-2:] == ["GetOperation", "GetOperation"]
    with pytest.raises(NotFound):
        hook.get_custom_job(custom_job=job_id, **where)
    with pytest.raises(InvalidArgument, match="Invalid label 'Team'"):
        hook.create_custom_job(custom_job={**other, "labels": {"Team": "x"}}, **where)


def test_our_tuning_request_as_planned_is_accepted_by_the_operator(peer):
    CreateHyperparameterTuningJobOperator(task_id="submit_tuning", **tuning(deferrable=False)).execute(operator_context())
    assert peer.job("job-1", "tuning").state.name == "JOB_STATE_SUCCEEDED"


@pytest.mark.parametrize("deferrable", [False, True])
def test_our_tuning_request_with_a_staging_bucket_searches_our_space_and_ends_with_the_player_s_trials(peer, deferrable):
    peer.player = lambda job: ("SUCCEEDED", "", TRIALS)
    request, context = tuning(staging_bucket=LAKE, deferrable=deferrable), operator_context()
    assert isinstance(request["parameter_spec"]["learning_rate"], hpt.DoubleParameterSpec)
    assert isinstance(request["parameter_spec"]["n_estimators"], hpt.IntegerParameterSpec)
    operator = CreateHyperparameterTuningJobOperator(task_id="submit_tuning", **request)
    job = run(operator, context, deferrable, "CreateHyperparameterTuningJobTrigger")

    sent = peer.last("CreateHyperparameterTuningJob")
    assert sent.parent == PARENT and peer.methods()[0] == "CreateHyperparameterTuningJob"
    study, trial_spec = sent.hyperparameter_tuning_job.study_spec, sent.hyperparameter_tuning_job.trial_job_spec
    assert [(m.metric_id, m.goal.name) for m in study.metrics] == [(vertex.METRIC, "MAXIMIZE")]
    assert [p.parameter_id for p in study.parameters] == list(model.SEARCH_SPACE)
    for p, space in zip(study.parameters, model.SEARCH_SPACE.values()):
        which = "integer_value_spec" if space.kind == "int" else "double_value_spec"
        values = getattr(p, which)
        assert type(p).pb(p).WhichOneof("parameter_value_spec") == which
        assert (values.min_value, values.max_value) == (space.low, space.high)
        assert p.scale_type.name == ("UNIT_LOG_SCALE" if space.log else "UNIT_LINEAR_SCALE")
    lr = next(p for p in study.parameters if p.parameter_id == "learning_rate")
    assert (lr.double_value_spec.min_value, lr.double_value_spec.max_value) == (0.02, 0.3)
    assert lr.scale_type == v1.StudySpec.ParameterSpec.ScaleType.UNIT_LOG_SCALE
    assert (sent.hyperparameter_tuning_job.max_trial_count, sent.hyperparameter_tuning_job.parallel_trial_count) == (6, 2)
    assert list(trial_spec.worker_pool_specs) == [v1.WorkerPoolSpec(POOL)]
    assert trial_spec.service_account == ENV["CONTRAIL_VERTEX_SERVICE_ACCOUNT"]
    assert trial_spec.base_output_directory.output_uri_prefix == f"{LAKE}/training/jobs/job-1"
    assert trial_spec.scheduling.timeout.total_seconds() == 600
    # the operator has no scheduling strategy: the trials run on standard VMs whatever CONTRAIL_VERTEX_SPOT says
    assert trial_spec.scheduling.strategy == v1.Scheduling.Strategy.STRATEGY_UNSPECIFIED
    assert dict(sent.hyperparameter_tuning_job.labels) == account.labels(NAMES)

    finished = peer.job("job-1", "tuning")
    assert finished.state.name == "JOB_STATE_SUCCEEDED" and [t.id for t in finished.trials] == ["1", "2", "3"]
    assert finished.trials[1].final_measurement.metrics[0].value == 0.74
    assert finished.trials[0].parameters[0].value == 0.05
    state = job["state"]  # deferred: the trigger's proto dict (enums as numbers); else the SDK's JSON dict
    assert state in (v1.JobState.JOB_STATE_SUCCEEDED, "JOB_STATE_SUCCEEDED") and len(job["trials"]) == 3
    assert context["ti"].xcom["hyperparameter_tuning_job_id"] == finished.name.rsplit("/", 1)[-1]


def test_the_best_trial_s_folder_is_read_back_and_a_retry_re_attaches_to_the_tuning_job(peer):
    peer.player = lambda job: ("SUCCEEDED", "", TRIALS)
    request, context = tuning(staging_bucket=LAKE, deferrable=False), operator_context()
    CreateHyperparameterTuningJobOperator(task_id="submit_tuning", **request).execute(context)
    assert vertex.output_folder({"kind": "tuning", "job": "job-1", **CONN}) == "training/jobs/job-1/2/model"
    assert vertex.find_tuning(request, context)["name"] == peer.job("job-1", "tuning").name


def test_a_failed_tuning_job_fails_the_deferred_task(peer):
    peer.player = failing
    request, context = tuning(staging_bucket=LAKE, deferrable=True), operator_context()
    with pytest.raises(AirflowException, match="completed with status JOB_STATE_FAILED"):
        run(CreateHyperparameterTuningJobOperator(task_id="submit_tuning", **request), context, True,
            "CreateHyperparameterTuningJobTrigger")
    job = peer.job("job-1", "tuning")
    assert (job.state.name, job.error.message, list(job.trials)) == ("JOB_STATE_FAILED", FAILURE, [])


def test_our_explain_of_a_failed_tuning_job_names_its_error_and_no_folder_is_read_back(peer):
    peer.player = failing
    request, context = tuning(staging_bucket=LAKE, deferrable=False), operator_context()
    with pytest.raises(RuntimeError, match="Job failed with") as raised:
        CreateHyperparameterTuningJobOperator(task_id="submit_tuning", **request).execute(context)
    text, permanent = vertex.explain(request, context, raised.value)
    assert permanent and text.startswith("Vertex AI tuning job job-1 (") and f"is JOB_STATE_FAILED: {FAILURE}" in text
    with pytest.raises(RuntimeError, match="has not succeeded"):
        vertex.output_folder({"kind": "tuning", "job": "job-1", **CONN})


CANDIDATE = {"model": "contrail-classifier", "version": 3, "window": "2013-05-01..2013-07-31", "run_id": "abc123",
             "metrics": {"roc_auc": 0.81234, "pr_auc": 0.4, "brier": 0.1}}


def upload(candidate: dict, decision: str | None, parent: str | None) -> dict:
    """UploadModelOperator's arguments as registry.plan_mirror makes them."""
    uri = f"{LAKE}/{registry.export_relative(candidate['model'], str(candidate['version']))}"
    return {**registry.upload_request(candidate, decision, settings.load(ENV), uri, parent), **CONN}


def test_our_upload_request_makes_a_model_then_a_version_of_it_and_the_alias_moves(peer):
    first, context = upload(CANDIDATE, "promoted", None), operator_context()
    result = UploadModelOperator(task_id="register_version", **first).execute(context)
    assert peer.methods() == ["UploadModel", "GetOperation", "GetOperation"]
    sent = peer.last("UploadModel")
    assert (sent.parent, sent.parent_model) == (PARENT, "") and sent.model == v1.Model(first["model"])
    m = sent.model
    assert (m.display_name, m.artifact_uri) == ("contrail-classifier", f"{LAKE}/registry/contrail-classifier/3/model")
    assert (m.container_spec.image_uri, m.container_spec.predict_route, m.container_spec.health_route) == (
        ENV["CONTRAIL_VERTEX_SERVING_IMAGE"], "/invocations", "/ping")
    assert [p.container_port for p in m.container_spec.ports] == [8080]
    assert dict(m.labels) == {"mlflow-model": "contrail-classifier", "mlflow-version": "3", "decision": "promoted",
                              "holdout-roc-auc": "0_8123", "holdout-pr-auc": "0_4000"}
    assert list(m.version_aliases) == ["mlflow-v3", "champion"]
    model_id = context["ti"].xcom["model_id"]
    name = f"projects/{peer.number(PROJECT)}/locations/{REGION}/models/{model_id}"
    assert result == {"model": name, "model_version_id": "1"}

    # the next MLflow version: the plan finds the model by its display name and uploads a version under it
    client = ModelServiceHook().get_model_service_client(REGION)
    listed = client.list_models(request={"parent": PARENT, "filter": 'display_name="contrail-classifier"'})
    assert [m.name for m in listed] == [result["model"]]
    second = upload({**CANDIDATE, "version": 4}, "promoted", model_id)
    again = UploadModelOperator(task_id="register_version", **second).execute(operator_context())
    assert peer.last("UploadModel").parent_model == f"{PARENT}/models/{model_id}"
    assert again == {"model": result["model"], "model_version_id": "2"}
    assert [list(v.version_aliases) for v in peer.versions("contrail-classifier")] == [
        ["default", "mlflow-v3"], ["mlflow-v4", "champion"]]

    assert client.get_model(name=f"{PARENT}/models/{model_id}@champion").version_id == "2"
    assert client.get_model(name=f"{PARENT}/models/{model_id}").version_id == "1"  # the default version
    assert [list(v.version_aliases) for v in client.list_model_versions(name=f"{PARENT}/models/{model_id}")] == [
        ["default", "mlflow-v3"], ["mlflow-v4", "champion"]]
    assert [v.version_id for v in client.list_model_versions(request={
        "name": f"{PARENT}/models/{model_id}", "filter": 'labels.mlflow-version="4"'})] == ["2"]
    with pytest.raises(InvalidArgument, match=r"Invalid version aliases \['42'\]"):
        numeric = {**second, "model": {**second["model"], "version_aliases": ["42"]}}
        UploadModelOperator(task_id="register_version", **numeric).execute(operator_context())
    with pytest.raises(NotFound, match="parent model"):
        UploadModelOperator(task_id="register_version", **upload(CANDIDATE, None, "404")).execute(operator_context())


def test_the_mirror_plan_finds_the_model_by_its_display_name(peer):
    result = UploadModelOperator(task_id="register_version", **upload(CANDIDATE, None, None)).execute(operator_context())
    assert registry.find_model(CONN, "contrail-classifier") == result["model"].rsplit("/", 1)[-1]
    assert registry.find_model(CONN, "other") is None


def test_a_retried_first_upload_re_attaches_to_the_model_it_made(peer):
    first, context = upload(CANDIDATE, "promoted", None), operator_context()
    UploadModelOperator(task_id="register_version", **first).execute(context)
    assert registry.find_version(first, context) is not None


def test_re_attaching_to_an_upload_returns_what_the_operator_returned_and_links_the_model(peer):
    first = upload(CANDIDATE, "promoted", None)
    result = UploadModelOperator(task_id="register_version", **first).execute(operator_context())
    model_id = result["model"].rsplit("/", 1)[-1]
    second = upload({**CANDIDATE, "version": 4}, None, model_id)
    again = UploadModelOperator(task_id="register_version", **second).execute(operator_context())
    page = f"https://console.cloud.google.com/vertex-ai/models/locations/{REGION}/models/{model_id}?project={PROJECT}"
    assert (registry.find_version(second, operator_context()), registry.console(first, result)) == (again, page)


def test_unimplemented_methods_are_recorded_and_no_other_endpoint_or_credential_is_used(peer, monkeypatch):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    client = CustomJobHook().get_job_service_client(REGION)
    with pytest.raises(MethodNotImplemented, match="does not implement /google.cloud.aiplatform.v1.JobService/GetBatch"):
        client.get_batch_prediction_job(name=f"{PARENT}/batchPredictionJobs/1")
    assert peer.methods() == ["/google.cloud.aiplatform.v1.JobService/GetBatchPredictionJob"]
    with pytest.raises(RuntimeError, match="europe-west1-aiplatform.googleapis.com:443.*only the peer"):
        v1.JobServiceClient(credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": f"{REGION}-aiplatform.googleapis.com:443"})
    monkeypatch.setenv("AIRFLOW_CONN_REAL_GCP", '{"conn_type": "google_cloud_platform"}')
    with pytest.raises(RuntimeError, match="'real_gcp' is not anonymous"):
        CustomJobHook(gcp_conn_id="real_gcp").project_id
    assert ModelServiceHook().project_id == PROJECT
    with pytest.raises(NotFound, match="does not exist"):  # the SDK's own clients are the peer's too
        aiplatform.CustomJob.get(f"{PARENT}/customJobs/1", credentials=AnonymousCredentials())
    assert peer.last("GetCustomJob").name == f"{PARENT}/customJobs/1"
    monkeypatch.setattr(peer, "_get_model", lambda request: 1 / 0)  # the peer's own failure: INTERNAL, and kept
    with pytest.raises(InternalServerError, match="the Vertex AI peer failed: ZeroDivisionError"):
        ModelServiceHook().get_model_service_client(REGION).get_model(name=f"{PARENT}/models/1")
    assert peer.errors == ["GetModel raised ZeroDivisionError('division by zero')"]
    peer.errors.clear()


def test_bound_without_a_monkeypatch_ends_with_its_block():
    from google.cloud.aiplatform import initializer

    real = CustomJobHook.get_job_service_client
    with VertexPeer() as peer, bound(peer, conn_id="peer_gcp", project="p"):
        assert CustomJobHook.get_job_service_client is not real and "create_client" in vars(initializer.global_config)
        assert CustomJobHook(gcp_conn_id="peer_gcp").project_id == "p"
    assert CustomJobHook.get_job_service_client is real and "create_client" not in vars(initializer.global_config)
