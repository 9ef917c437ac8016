"""Training, tuning, the model package, scoring and the endpoint of the aws profile, run through its DAGs
against the moto server; the twin plays the training container and the cluster."""

from __future__ import annotations

import json

import pytest
from aws_twin import LAKE, MODEL, TryContext, run_task
from contrail import storage
from contrail.registry import ledger
from dag_checks import champion, states

pytestmark = [pytest.mark.airflow, pytest.mark.spark]
WINDOW = ("2013-08-01", "2013-08-10")


@pytest.fixture(scope="module")
def window(aws):
    import synthetic_features as synthetic

    return synthetic.write_days(WINDOW[0], 10)


@pytest.fixture(scope="module")
def trained(aws, aws_dags, window):
    return aws_dags.get_dag("contrail_training").test(run_conf={"start": WINDOW[0], "end": WINDOW[1], "tune": False})


def test_a_sagemaker_training_job_trains_the_model_that_mlflow_registers_and_the_gate_promotes(aws, trained, window):
    got = states(trained)
    assert trained.state == "success", got
    assert (got["train.submit_training"], got["train.await_training"], got["train.submit_tuning"]) == ("success", "success", "skipped")
    mv = champion(MODEL)
    name = mv.tags["contrail.job"]
    assert mv.tags["contrail.platform"] == "aws" and mv.tags["contrail.window"] == "..".join(WINDOW)
    # the gate scored the registered model afresh on the holdout days: it reproduces what the job reported
    (judged,) = [e for e in ledger.history(MODEL) if (e["action"], e["version"]) == ("promoted", str(mv.version))]
    assert judged["metrics"]["roc_auc"] == pytest.approx(float(mv.tags["contrail.holdout_roc_auc"]), abs=1e-6)
    job = aws.client("sagemaker").describe_training_job(TrainingJobName=name)
    assert job["EnableManagedSpotTraining"] is True
    assert job["CheckpointConfig"] == {"S3Uri": f"s3://{LAKE}/contrail/training/jobs/{name}/checkpoints/", "LocalPath": "/opt/ml/checkpoints"}
    assert job["HyperParameters"]["holdout_days"] == ",".join(window[-2:]) and job["HyperParameters"]["train_days"] == ",".join(window[:6])
    assert {t["Key"]: t["Value"] for t in aws.client("sagemaker").list_tags(ResourceArn=job["TrainingJobArn"])["Tags"]}[
        "contrail:run_id"] == trained.run_id
    channel = job["InputDataConfig"][0]["DataSource"]["S3DataSource"]
    assert channel["S3DataType"] == "ManifestFile"
    manifest = json.loads(storage.location(f"training/jobs/{name}/manifest.json").read_text())
    assert manifest[0] == {"prefix": f"s3://{LAKE}/contrail/features/"}
    assert sorted({path.split("/")[0] for path in manifest[1:]}) == [f"dt={d}" for d in window]


def test_the_promoted_version_is_mirrored_as_an_approved_model_package(aws, trained):
    mv = champion(MODEL)
    sm = aws.client("sagemaker")
    packages = [sm.describe_model_package(ModelPackageName=p["ModelPackageArn"])
                for p in sm.list_model_packages(ModelPackageGroupName="aws-delay")["ModelPackageSummaryList"]]
    (described,) = [p for p in packages if p["CustomerMetadataProperties"]["mlflow_version"] == str(mv.version)]
    assert described["ModelApprovalStatus"] == "Approved"
    url = described["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    assert url == f"s3://{LAKE}/contrail/registry/{MODEL}/{mv.version}/model.tar.gz" and storage.path(url, "aws_test").exists()


def test_a_retried_submit_reattaches_to_its_training_job(aws, aws_dags, trained):
    from contrail.platforms import aws as platform
    from contrail.platforms.naming import Names
    from contrail.training import job

    mv = champion(MODEL)
    name = mv.tags["contrail.job"]
    split = json.loads(storage.location(f"training/jobs/{name}/spec.json").read_text())["split"]
    plan = platform.plan_training(job.spec(split), Names("contrail_training", "train", trained.run_id, tuple(WINDOW)), name)
    before = aws.client("sagemaker").list_training_jobs()["TrainingJobSummaries"]
    submit = aws_dags.get_dag("contrail_training").get_task("train.submit_training")
    again = run_task(submit, plan["submit_training"], TryContext())
    assert again["Training"]["TrainingJobName"] == name and again["Training"]["TrainingJobStatus"] == "Completed"
    assert aws.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == before


def test_a_tuning_job_searches_the_space_and_its_best_trial_is_registered(aws, aws_dags, trained):
    from contrail.platforms.aws import sagemaker

    run = aws_dags.get_dag("contrail_training").test(
        run_conf={"start": WINDOW[0], "end": WINDOW[1], "tune": True, "n_trials": 2, "timeout_minutes": 5})
    got = states(run)
    assert got["train.submit_tuning"] == got["train.await_tuning"] == got["train.register"] == "success", got
    assert got["train.submit_training"] == "skipped"
    sm = aws.client("sagemaker")
    (tuning,) = [j for j in sm.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]]
    described = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuning["HyperParameterTuningJobName"])
    assert described["HyperParameterTuningJobConfig"]["ParameterRanges"] == sagemaker.parameter_ranges()
    assert described["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 2
    best = described["BestTrainingJob"]
    from contrail.registry import tracking

    (mv,) = [v for v in tracking.client().search_model_versions(f"name='{MODEL}'")
             if v.tags.get("contrail.job") == tuning["HyperParameterTuningJobName"]]
    params = tracking.client().get_run(mv.tags["contrail.run_id"]).data.params
    assert float(params["learning_rate"]) == pytest.approx(float(best["TunedHyperParameters"]["learning_rate"]))


def test_a_failed_training_job_fails_the_run_with_its_reason_and_log(aws, aws_dags, trained, capfd):
    aws.fail_jobs = True
    try:
        run = aws_dags.get_dag("contrail_training").test(run_conf={"start": WINDOW[0], "end": WINDOW[1], "tune": False})
    finally:
        aws.fail_jobs = False
    text = "".join(capfd.readouterr())
    assert run.state == "failed" and states(run)["train.submit_training"] == "failed"
    assert "is Failed: JobError: no features for 2013-08-01" in text  # the job's FailureReason
    assert "/aws/sagemaker/TrainingJobs" not in text or "Traceback" in text  # and the tail of its log
    assert "#/jobs/contrail-train-" in text  # its console page


def test_scoring_runs_on_emr_and_every_prediction_names_the_champion(aws, aws_dags, trained):
    from contrail import scoring

    day = WINDOW[1]
    run = aws_dags.get_dag("contrail_inference").test(run_conf={"start": day, "end": day})
    assert run.state == "success", states(run)
    version = str(champion(MODEL).version)
    assert scoring.read_manifest(day)["model_version"] == version
    assert storage.parquet_rows(storage.location(f"predictions/dt={day}")) == storage.parquet_rows(storage.location(f"features/dt={day}"))
    step = next(s for c in aws.client("emr").list_clusters()["Clusters"] if "score-features" in c["Name"]
                for s in aws.client("emr").list_steps(ClusterId=c["Id"])["Steps"])
    args = step["Config"]["Args"]
    assert json.loads(args[args.index("--plan") + 1]) == {version: {"days": [day], "threshold": pytest.approx(
        float(champion(MODEL).tags["contrail.threshold"]))}}


def test_the_champion_is_served_by_a_sagemaker_endpoint_that_answers_the_smoke_request(aws, aws_dags, trained, monkeypatch):
    from contrail import serving

    monkeypatch.setenv("CONTRAIL_SERVING", "on")
    version = str(champion(MODEL).version)
    rows, expected = serving.sample(MODEL, version)
    aws.answer_invocations(json.dumps({"predictions": [[1 - p, p] for p in expected]}))
    run = aws_dags.get_dag("contrail_serving").test()
    assert run.state == "success", states(run)
    endpoint = aws.client("sagemaker").describe_endpoint(EndpointName="contrail-aws-delay")
    assert endpoint["EndpointConfigName"] == f"contrail-aws-delay-v{version}" and endpoint["EndpointStatus"] == "InService"
    assert aws.invocations() == [{"dataframe_records": rows}]  # the exact request the endpoint got


def test_a_wrong_answer_from_the_endpoint_fails_the_smoke_test(aws, aws_dags, trained, monkeypatch, capfd):
    monkeypatch.setenv("CONTRAIL_SERVING", "on")
    sm, name = aws.client("sagemaker"), f"contrail-aws-delay-v{champion(MODEL).version}"
    sm.delete_endpoint(EndpointName="contrail-aws-delay")  # moto answers update_endpoint with HTTP 500: create again
    sm.delete_endpoint_config(EndpointConfigName=name)
    sm.delete_model(ModelName=name)
    aws.runtime().results.clear()
    aws.answer_invocations(json.dumps({"predictions": [[0.5, 0.5]] * 5}))
    run = aws_dags.get_dag("contrail_serving").test()
    text = "".join(capfd.readouterr())
    assert run.state == "failed" and states(run)["serve.smoke_test"] == "failed"
    assert "answered [0.5, 0.5, 0.5, 0.5, 0.5] for 5 rows; the registered model predicts" in text


def test_a_new_champion_updates_the_endpoint_in_place_with_exactly_these_requests(aws, trained, monkeypatch):
    """moto answers UpdateEndpoint with HTTP 500: the provider's calls are asserted at the client boundary."""
    from airflow.providers.amazon.aws.operators.sagemaker import (
        SageMakerEndpointOperator,
    )
    from botocore.stub import Stubber
    from contrail.platforms.aws import serving
    from contrail.platforms.naming import Names

    version = str(champion(MODEL).version)
    aws.client("sagemaker").create_model(ModelName="old", ExecutionRoleArn="arn:aws:iam::123456789012:role/contrail-sagemaker",
                                         PrimaryContainer={"Image": "old-image"})
    aws.client("sagemaker").create_endpoint_config(EndpointConfigName="old", ProductionVariants=[
        {"VariantName": "champion", "ModelName": "old", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    if not sagemaker_exists(aws, "contrail-aws-delay"):
        aws.client("sagemaker").create_endpoint(EndpointName="contrail-aws-delay", EndpointConfigName="old")
    plan = serving.plan_endpoint(MODEL, version, Names("contrail_serving", "serve", "r", (f"v{version}",)))
    request = plan["deploy_endpoint"]
    assert request["operation"] == "update"
    operator = SageMakerEndpointOperator(task_id="deploy_endpoint", **{k: v for k, v in request.items()})
    client = operator.hook.conn
    name = f"contrail-aws-delay-v{version}"
    with Stubber(client) as stub:
        stub.add_response("create_model", {"ModelArn": f"arn:aws:sagemaker:us-east-1:123456789012:model/{name}"},
                          request["config"]["Model"])
        stub.add_response("create_endpoint_config", {"EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/x"}, request["config"]["EndpointConfig"])
        stub.add_response("update_endpoint", {"EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/contrail-aws-delay",
                                              "ResponseMetadata": {"HTTPStatusCode": 200}},
                          {"EndpointName": "contrail-aws-delay", "EndpointConfigName": name})
        stub.add_response("describe_endpoint_config", {"EndpointConfigName": name, "EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/x",
                                                       "ProductionVariants": request["config"]["EndpointConfig"]["ProductionVariants"],
                                                       "CreationTime": "2026-12-01T00:00:00Z"}, {"EndpointConfigName": name})
        stub.add_response("describe_endpoint", {"EndpointName": "contrail-aws-delay", "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/contrail-aws-delay",
                                                "EndpointConfigName": name, "EndpointStatus": "Updating",
                                                "CreationTime": "2026-12-01T00:00:00Z", "LastModifiedTime": "2026-12-01T00:00:00Z"},
                          {"EndpointName": "contrail-aws-delay"})
        operator.execute({"ti": TryContext()["ti"]})
        stub.assert_no_pending_responses()


def sagemaker_exists(aws, endpoint: str) -> bool:
    try:
        aws.client("sagemaker").describe_endpoint(EndpointName=endpoint)
        return True
    except aws.client("sagemaker").exceptions.ClientError:
        return False


def test_scoring_can_be_a_sagemaker_batch_transform_whose_answers_become_the_predictions(aws, trained, monkeypatch):
    """CONTRAIL_SCORING_ENGINE=batch: the same slots, SageMaker's operators; the twin serves the real model archive."""
    import os

    import mlflow
    from airflow.dag_processing.dagbag import DagBag
    from contrail import scoring
    from contrail.training import model, window

    monkeypatch.setenv("CONTRAIL_SCORING_ENGINE", "batch")
    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag("contrail_inference")
    for task in dag.tasks:
        task.retries = 0
    assert dag.get_task("score_features.submit_job").operator_name == "SageMakerTransformOperator"
    day = WINDOW[1]
    run = dag.test(run_conf={"start": day, "end": day, "use_current_champion": True})
    assert run.state == "success", states(run)
    version = str(champion(MODEL).version)
    predictions = storage.read_parquet(storage.location(f"predictions/dt={day}"))
    features = window.load([day])
    expected = mlflow.sklearn.load_model(f"models:/{MODEL}/{version}").predict_proba(model.inputs(features))[:, 1]
    assert predictions["probability"].to_numpy() == pytest.approx(expected, abs=1e-9)  # row for row, in the features' order
    assert set(predictions["model_version"]) == {version} and scoring.read_manifest(day)["model_version"] == version
    sm = aws.client("sagemaker")
    (job,) = [j for j in sm.list_transform_jobs()["TransformJobSummaries"]]
    described = sm.describe_transform_job(TransformJobName=job["TransformJobName"])
    assert described["TransformInput"]["ContentType"] == "text/csv" and described["TransformInput"]["SplitType"] == "None"
    with pytest.raises(sm.exceptions.ClientError):  # the teardown removed the run's model
        sm.describe_model(ModelName=described["ModelName"])
