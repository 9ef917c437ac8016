"""Training, tuning, the model registry mirror and the endpoint on SageMaker: the requests (pure) and
the run-time helpers the operators are given (re-attach, explain a failure, the console page).

The training image (Dockerfile, target `training`) runs `python -m contrail.training.job train`,
the same job as the local profile: the window's feature files arrive in the `features` channel
(a manifest of exactly those partitions), the split and the model's parameters as hyperparameters;
the model and its evidence leave as `<lake>/training/jobs/<job>/output/model.tar.gz`, which
`train.register` logs into MLflow. The tuning job searches model.SEARCH_SPACE, the space Optuna
searches locally, on the metric the job prints (`validation:roc_auc=...`).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from contrail.platforms import cost
from contrail.platforms.aws.account import client
from contrail.platforms.naming import Names
from contrail.platforms.settings import Settings
from contrail.training import job, model

METRICS = [{"Name": job.OBJECTIVE, "Regex": "validation:roc_auc=([0-9.]+)"},
           {"Name": "holdout:roc_auc", "Regex": "holdout:roc_auc=([0-9.]+)"}]
CHECKPOINTS = "/opt/ml/checkpoints"


def tags(names: Names) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in names.tags().items()]


def manifest(prefix: str, files: list[str]) -> list:
    """A SageMaker ManifestFile: the features prefix, then each file relative to it (kept as the channel's layout)."""
    prefix = prefix.rstrip("/") + "/"
    return [{"prefix": prefix}, *[f[len(prefix):] for f in files]]


def jobs_uri(lake: str) -> str:
    return f"{lake.rstrip('/')}/training/jobs"


def _definition(s: Settings, manifest_uri: str, lake: str, job_name: str) -> dict:
    spot = s.flag("training_spot")
    stopping = {"MaxRuntimeInSeconds": s.number("training_max_run_s", int)}
    if spot:
        stopping["MaxWaitTimeInSeconds"] = s.number("training_max_wait_s", int)
    return {
        "AlgorithmSpecification": {"TrainingImage": s.need("training_image"), "TrainingInputMode": "File",
                                   "MetricDefinitions": METRICS},
        "RoleArn": s.need("sagemaker_role"),
        "InputDataConfig": [{"ChannelName": "features", "InputMode": "File", "ContentType": "application/x-parquet",
                             "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": manifest_uri,
                                                             "S3DataDistributionType": "FullyReplicated"}}}],
        "OutputDataConfig": {"S3OutputPath": jobs_uri(lake) + "/"},
        "ResourceConfig": {"InstanceType": s.need("training_instance_type"), "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": stopping,
        "EnableManagedSpotTraining": spot,
        "CheckpointConfig": {"S3Uri": f"{jobs_uri(lake)}/{job_name}/checkpoints/", "LocalPath": CHECKPOINTS},
    }


def training_request(spec: dict, s: Settings, names: Names, job_name: str, manifest_uri: str, lake: str) -> dict:
    """create_training_job's request: the job spec as hyperparameters, spot with checkpoints, Contrail's tags."""
    return {"TrainingJobName": job_name, "HyperParameters": job.to_hyperparameters(spec),
            **_definition(s, manifest_uri, lake, job_name), "Tags": tags(names)}


def parameter_ranges() -> dict:
    """model.SEARCH_SPACE as SageMaker parameter ranges (the same space Optuna searches locally)."""
    ranges = {"IntegerParameterRanges": [], "ContinuousParameterRanges": []}
    for name, space in model.SEARCH_SPACE.items():
        kind = "IntegerParameterRanges" if space.kind == "int" else "ContinuousParameterRanges"
        low, high = (int(space.low), int(space.high)) if space.kind == "int" else (space.low, space.high)
        ranges[kind].append({"Name": name, "MinValue": str(low), "MaxValue": str(high),
                             "ScalingType": "Logarithmic" if space.log else "Linear"})
    return ranges


def tuning_request(spec: dict, s: Settings, names: Names, job_name: str, manifest_uri: str, lake: str) -> dict:
    """create_hyper_parameter_tuning_job's request: Bayesian search of SEARCH_SPACE on validation ROC AUC,
    within the run's trial and time budgets; the split is a static hyperparameter of every trial."""
    static = job.to_hyperparameters({**spec, "params": {}})
    return {
        "HyperParameterTuningJobName": job_name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": job.OBJECTIVE},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": spec["n_trials"],
                               "MaxParallelTrainingJobs": min(spec["n_trials"], s.number("tuning_parallel", int)),
                               "MaxRuntimeInSeconds": max(120, int(spec["timeout_s"]))},
            "ParameterRanges": parameter_ranges(),
            "TrainingJobEarlyStoppingType": "Off",
        },
        "TrainingJobDefinition": {"StaticHyperParameters": static, **_definition(s, manifest_uri, lake, job_name)},
        "Tags": tags(names),
    }


def training_cost(s: Settings, jobs: int = 1) -> list[cost.Line]:
    return [cost.Line("training job" if jobs == 1 else "tuning trials", s.need("training_instance_type"), jobs,
                      s.number("training_expected_hours"), spot=s.flag("training_spot"), base="sagemaker")]


def package_request(candidate: dict, decision: str | None, s: Settings, group: str, model_url: str) -> dict:
    """SageMakerRegisterModelVersionOperator's arguments: approval follows the gate's decision."""
    approval = {"promoted": "Approved", "refused": "Rejected"}.get(decision or "", "PendingManualApproval")
    metrics = candidate.get("metrics") or {}
    return {
        "image_uri": s.need("serving_image"), "model_url": model_url, "package_group_name": group,
        "package_group_desc": f"Contrail's {candidate['model']} (MLflow is the registry of record)",
        "package_desc": f"{candidate['model']} v{candidate['version']}, window {candidate['window']}",
        "model_approval": approval,
        "extras": {"CustomerMetadataProperties": {
            "mlflow_model": candidate["model"], "mlflow_version": str(candidate["version"]),
            "mlflow_run_id": candidate["run_id"], "window": candidate["window"], "decision": decision or "none",
            **{f"holdout_{k}": f"{v:.6f}" for k, v in metrics.items() if k in ("roc_auc", "pr_auc", "log_loss")}}},
    }


def package_arguments(request: dict) -> dict:
    """The operator wants its approval as the provider's ApprovalStatus, not the string the plan's XCom holds."""
    from airflow.providers.amazon.aws.operators.sagemaker import ApprovalStatus

    return {**request, "model_approval": ApprovalStatus(request["model_approval"])}


def endpoint_request(model_name: str, version: str, s: Settings, model_url: str, operation: str) -> dict:
    """SageMakerEndpointOperator's config: a model and an endpoint configuration per version, one endpoint per
    registered model (updated in place to the new champion)."""
    base = f"contrail-{model_name}".replace("_", "-")
    versioned = f"{base}-v{version}"
    return {"config": {
        "Model": {"ModelName": versioned, "ExecutionRoleArn": s.need("sagemaker_role"),
                  "PrimaryContainer": {"Image": s.need("serving_image"), "ModelDataUrl": model_url,
                                       "Environment": {"MLFLOW_DEPLOYMENT_FLAVOR_NAME": "python_function"}}},
        "EndpointConfig": {"EndpointConfigName": versioned, "ProductionVariants": [
            {"VariantName": "champion", "ModelName": versioned, "InitialInstanceCount": s.number("endpoint_instance_count", int),
             "InstanceType": s.need("endpoint_instance_type")}]},
        "Endpoint": {"EndpointName": base, "EndpointConfigName": versioned},
    }, "operation": operation}


# ---- run time ---------------------------------------------------------------------------------

def exists(call, **kwargs) -> dict | None:
    from botocore.exceptions import ClientError

    try:
        return call(**kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("ValidationException", "ResourceNotFound", "ResourceNotFoundException"):
            return None
        raise


def find_training(request: dict, context) -> dict | None:
    """The training job of this name, if an earlier try created it (its description, as the operator returns)."""
    found = exists(client(request, "sagemaker").describe_training_job, TrainingJobName=request["config"]["TrainingJobName"])
    return {"Training": json.loads(json.dumps(found, default=str))} if found else None


def find_tuning(request: dict, context) -> dict | None:
    found = exists(client(request, "sagemaker").describe_hyper_parameter_tuning_job,
                    HyperParameterTuningJobName=request["config"]["HyperParameterTuningJobName"])
    return {"Tuning": json.loads(json.dumps(found, default=str))} if found else None


def find_package(request: dict, context) -> str | None:
    """The package version an earlier try registered for the same MLflow version."""
    sm = client(request, "sagemaker")
    wanted = request["extras"]["CustomerMetadataProperties"]["mlflow_version"]
    if exists(sm.describe_model_package_group, ModelPackageGroupName=request["package_group_name"]) is None:
        return None
    for summary in sm.list_model_packages(ModelPackageGroupName=request["package_group_name"])["ModelPackageSummaryList"]:
        described = sm.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        if described.get("CustomerMetadataProperties", {}).get("mlflow_version") == wanted:
            return summary["ModelPackageArn"]
    return None


def log_tail(request: dict, job_name: str, lines: int = 40) -> str:
    """The last lines of a training job's CloudWatch log streams."""
    logs = client(request, "logs")
    group = "/aws/sagemaker/TrainingJobs"
    try:
        streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=job_name)["logStreams"]
    except Exception as exc:  # noqa: BLE001  (the explanation must never hide the job's own failure)
        return f"(no log of {job_name}: {exc})"
    out = []
    for stream in streams:
        events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"], limit=lines)["events"]
        out += [f"{stream['logStreamName']}: {e['message']}" for e in events]
    return "\n".join(out[-lines:]) or f"(no log events of {job_name} in {group})"


def explain_training(request: dict, context, error: Exception) -> tuple[str, bool]:
    """Why a training (or tuning) job failed: its FailureReason, its log tail, its console page."""
    name = (request.get("config") or {}).get("TrainingJobName") or request.get("job_name")
    if name is None:  # a tuning job: its best or last training job carries the reason
        tuning = request["config"]["HyperParameterTuningJobName"]
        found = exists(client(request, "sagemaker").describe_hyper_parameter_tuning_job, HyperParameterTuningJobName=tuning) or {}
        text = f"SageMaker tuning job {tuning} is {found.get('HyperParameterTuningJobStatus')}: {found.get('FailureReason', '')}"
        return text + f"\nconsole: {console_job(request, None)}", found.get("HyperParameterTuningJobStatus") == "Failed"
    found = exists(client(request, "sagemaker").describe_training_job, TrainingJobName=name) or {}
    status = found.get("TrainingJobStatus")
    text = (f"SageMaker training job {name} is {status}: {found.get('FailureReason', '(no reason given)')}\n"
            f"{log_tail(request, name)}\nconsole: {console_job(request, None)}")
    return text, status in ("Failed", "Stopped")


def console_job(request: dict, result) -> str | None:
    region = request.get("region_name") or "us-east-1"
    config = request.get("config") or {}
    base = f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}"
    if config.get("HyperParameterTuningJobName"):
        return f"{base}#/hyper-tuning-jobs/{config['HyperParameterTuningJobName']}"
    name = config.get("TrainingJobName") or request.get("job_name")
    if name:
        return f"{base}#/jobs/{name}"
    if config.get("Endpoint") or request.get("endpoint_name"):
        return f"{base}#/endpoints/{(config.get('Endpoint') or {}).get('EndpointName') or request['endpoint_name']}"
    if request.get("package_group_name"):
        return f"{base}#/model-packages/{request['package_group_name']}"
    return None


def model_artifact(output: dict) -> str:
    """The S3 URI of the model.tar.gz a training job (or a tuning job's best trial) wrote."""
    sm = client(output, "sagemaker")
    name = output["job"]
    if output["kind"] == "tuning":
        tuning = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        best = tuning.get("BestTrainingJob", {}).get("TrainingJobName")
        if not best:
            raise RuntimeError(f"tuning job {name} ({tuning['HyperParameterTuningJobStatus']}) names no best training job")
        name = best
    described = sm.describe_training_job(TrainingJobName=name)
    return described["ModelArtifacts"]["S3ModelArtifacts"]


def upload_serving_model(model_name: str, version: str, uri: str, conn_id: str) -> str:
    """The registered MLflow model as the model.tar.gz SageMaker serves (the MLflow model folder at its root),
    uploaded once to `uri`; the same archive backs the model package and the endpoint."""
    import tarfile
    import tempfile

    import mlflow
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    bucket, _, key = uri[len("s3://"):].partition("/")
    hook = S3Hook(aws_conn_id=conn_id)
    if hook.check_for_key(key, bucket):
        return uri
    with tempfile.TemporaryDirectory(prefix="contrail-serving-") as tmp:
        from contrail.registry import trust

        folder = mlflow.artifacts.download_artifacts(trust.model_uri(model_name, version), dst_path=f"{tmp}/model")
        archive = Path(tmp) / "model.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for path in sorted(Path(folder).rglob("*")):
                tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
        hook.load_file(str(archive), key, bucket, replace=True)
    return uri


@contextlib.contextmanager
def downloaded(output: dict):
    """The job's output folder (model/, result.json, ...), extracted from its model.tar.gz into a temporary folder."""
    import tarfile
    import tempfile

    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    uri = model_artifact(output)
    bucket, _, key = uri[len("s3://"):].partition("/")
    with tempfile.TemporaryDirectory(prefix="contrail-job-") as tmp:
        archive = Path(tmp) / "model.tar.gz"
        body = S3Hook(aws_conn_id=output.get("aws_conn_id")).get_conn().get_object(Bucket=bucket, Key=key)["Body"]
        archive.write_bytes(body.read())
        folder = Path(tmp) / "output"
        with tarfile.open(archive) as tar:
            tar.extractall(folder, filter="data")  # refuses absolute paths and links out of the folder
        yield folder
