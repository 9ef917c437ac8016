"""Scoring by SageMaker batch transform instead of EMR (CONTRAIL_SCORING_ENGINE=batch): the same slots.

    start_cluster  SageMakerModelOperator          the version's model (MLflow pyfunc serving image + archive)
    submit_job     SageMakerTransformOperator      one request per day file (the whole day, with its header)
    await_job      SageMakerTransformSensor
    stop_cluster   SageMakerDeleteModelOperator    teardown: the model goes, the endpoint's own model stays

The plan writes each day's model inputs as CSV (`scoring/batch/<job>/input/dt=<day>.csv`, in the
features partition's row order); the transform writes `<output>/dt=<day>.csv.out`, the MLflow
scoring server's answer; `record_scores` first collects those answers into `predictions/dt=<day>/`
(the same columns the Spark job writes) and then records the day as after any scoring. One model
version per run: a backfill whose days are scored by several versions (each as of its day) uses the Spark engine.
"""

from __future__ import annotations

import io
import json

from contrail.platforms import cost
from contrail.platforms.aws import account, sagemaker, serving
from contrail.platforms.aws import settings as aws_settings
from contrail.platforms.naming import Names

HERE = "contrail.platforms.aws"


def _arguments(argv: list[str]) -> dict[str, str]:
    return dict(zip(argv[0::2], argv[1::2]))


def model_request(model: str, version: str, s, uri: str, names: Names) -> dict:
    return {"config": {"ModelName": f"contrail-{model}-v{version}-batch".replace("_", "-"),
                       "ExecutionRoleArn": s.need("sagemaker_role"),
                       "PrimaryContainer": {"Image": s.need("serving_image"), "ModelDataUrl": uri,
                                            "Environment": {"MLFLOW_DEPLOYMENT_FLAVOR_NAME": "python_function"}},
                       "Tags": sagemaker.tags(names)}}


def transform_request(name: str, model_name: str, input_uri: str, output_uri: str, s, names: Names) -> dict:
    """create_transform_job's request: each day file is one request (SplitType None), answered as JSON."""
    return {"config": {
        "TransformJobName": name, "ModelName": model_name, "BatchStrategy": "SingleRecord", "MaxPayloadInMB": 100,
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
                           "ContentType": "text/csv", "SplitType": "None"},
        "TransformOutput": {"S3OutputPath": output_uri, "Accept": "application/json", "AssembleWith": "None"},
        "TransformResources": {"InstanceType": s.need("transform_instance_type"),
                               "InstanceCount": s.number("transform_instance_count", int)},
        "Tags": sagemaker.tags(names)}}


def plan(argv: list[str], names: Names) -> dict:
    from contrail import datasets, storage
    from contrail.config import ConfigError
    from contrail.dates import parse_day
    from contrail.training import model as delay_model

    s = aws_settings.load()
    conn = account.connection(s)
    account.require_role(s.need("sagemaker_role"), "CONTRAIL_SAGEMAKER_ROLE", conn)
    args = _arguments(argv)
    groups = json.loads(args["--plan"])
    if len(groups) != 1:
        raise ConfigError(f"batch transform scores with one model version a run, and these days need {len(groups)} "
                          f"({', '.join(f'v{v}' for v in groups)}): score them with CONTRAIL_SCORING_ENGINE=spark, or "
                          "rescore with use_current_champion")
    ((version, group),) = groups.items()
    model, lake = args["--model-name"], account.lake_root()
    job = names.resource("transform", max_len=63)
    folder = f"scoring/batch/{job}"
    for day in group["days"]:
        features = storage.read_parquet(storage.location(datasets.FEATURES.partition(parse_day(day))))
        text = io.StringIO()
        delay_model.inputs(features).to_csv(text, index=False)
        storage.location(f"{folder}/input/dt={day}.csv").write_text(text.getvalue())
    uri = sagemaker.upload_serving_model(model, version, serving.archive_uri(lake, model, version), conn["aws_conn_id"])
    created = {**model_request(model, version, s, uri, names), **conn}
    model_name = created["config"]["ModelName"]
    transform = transform_request(job, model_name, f"{lake}/{folder}/input/", f"{lake}/{folder}/output/", s, names)
    poll = s.number("poll_s", int)
    lines = [cost.Line("batch transform", s.need("transform_instance_type"), s.number("transform_instance_count", int),
                       s.number("training_expected_hours"), base="sagemaker")]
    return {
        "start_cluster": created,
        "submit_job": {**transform, "wait_for_completion": True, "deferrable": True, "check_interval": poll,
                       "check_if_job_exists": True, "action_if_job_exists": "fail", "check_if_model_exists": False, **conn},
        "await_job": {"job_name": job, "poke_interval": poll, "mode": "reschedule", **conn},
        "stop_cluster": {"config": {"ModelName": model_name}, **conn},
        "collect": {"output": f"{folder}/output", "model": model, "version": version, "threshold": group["threshold"],
                    "days": group["days"]},
        "cost": cost.estimate(lines, cost.prices(), cost.spot_discount()),
    }


def operators(plan, cloud) -> dict:
    console = f"{HERE}.sagemaker:console_job"
    return {
        "start_cluster": cloud("start_cluster", "operators.sagemaker.SageMakerModelOperator", plan["start_cluster"],
                               attach=f"{HERE}.batch:find_model", console=console),
        "submit_job": cloud("submit_job", "operators.sagemaker.SageMakerTransformOperator", plan["submit_job"],
                            attach=f"{HERE}.batch:find_transform", console=console),
        "await_job": cloud("await_job", "sensors.sagemaker.SageMakerTransformSensor", plan["await_job"], console=console),
        "stop_cluster": cloud("stop_cluster", "operators.sagemaker.SageMakerDeleteModelOperator", plan["stop_cluster"]),
    }


def find_model(request: dict, context) -> dict | None:
    found = sagemaker.exists(account.client(request, "sagemaker").describe_model, ModelName=request["config"]["ModelName"])
    return {"Model": json.loads(json.dumps(found, default=str))} if found else None


def find_transform(request: dict, context) -> dict | None:
    found = sagemaker.exists(account.client(request, "sagemaker").describe_transform_job,
                             TransformJobName=request["config"]["TransformJobName"])
    return {"Transform": json.loads(json.dumps(found, default=str))} if found else None


def collect(request: dict) -> None:
    """The transform's answers as predictions/dt=<day>/, row for row with the day's features."""
    from contrail import datasets, storage
    from contrail.dates import parse_day
    from contrail.training import model as delay_model
    from spark_jobs.score_features import CARRIED, KEYS

    for day in request["days"]:
        features = storage.read_parquet(storage.location(datasets.FEATURES.partition(parse_day(day))))
        answer = json.loads(storage.location(f"{request['output']}/dt={day}.csv.out").read_text())
        rows = answer["predictions"] if isinstance(answer, dict) else answer
        if len(rows) != len(features):
            raise storage.StorageError(f"batch transform answered {len(rows)} rows for the {len(features)} features of {day}")
        keys = [k for k in KEYS if k != "dt"]
        features["degraded"] = features["degraded"].fillna("") if "degraded" in features else ""
        frame = features[[*keys, *CARRIED, *[c for c in delay_model.FEATURES if c not in KEYS]]].copy()
        frame["probability"] = [float(r[1]) for r in rows]
        frame["predicted_late"] = (frame["probability"] >= float(request["threshold"])).astype("int32")
        frame["model_name"], frame["model_version"] = request["model"], str(request["version"])
        storage.write_parquet_atomically(frame, storage.location(datasets.PREDICTIONS.partition(parse_day(day))))
