"""The train step on SageMaker: its plan (the features manifest written to the lake, the training or
tuning request, the cost estimate) and its operators."""

from __future__ import annotations

import json

from contrail.platforms.aws import settings as aws_settings

HERE = "contrail.platforms.aws"


def features_files(days: list[str]) -> tuple[str, list[str]]:
    """(the features prefix, the S3 URI of every Parquet file of `days`) in the lake."""
    from contrail import datasets, storage
    from contrail.dates import parse_day

    prefix = storage.spark_uri(datasets.FEATURES.path)
    files = []
    for day in days:
        partition = storage.location(datasets.FEATURES.partition(parse_day(day)))
        found = sorted(p for p in partition.fs.find(partition.path) if p.endswith(".parquet") and "/_" not in p)
        if not found:
            raise storage.StorageError(f"no features in {partition}: build the day first")
        files += [f"s3://{p}" for p in found]
    return prefix, files


def plan(spec: dict, names, job_name: str) -> dict:
    from contrail import storage
    from contrail.platforms import cost
    from contrail.platforms.aws import account, sagemaker

    s = aws_settings.load()
    conn = account.connection(s)
    lake = account.lake_root()
    account.require_bucket(lake, "CONTRAIL_DATA_ROOT", conn)
    account.require_role(s.need("sagemaker_role"), "CONTRAIL_SAGEMAKER_ROLE", conn)
    s.need("training_image")
    split = spec["split"]
    prefix, files = features_files([*split["train"], *split["validation"], *split["holdout"]])
    manifest = storage.location(f"training/jobs/{job_name}/manifest.json")
    manifest.write_text(json.dumps(sagemaker.manifest(prefix, files)))
    manifest_uri = f"{lake}/training/jobs/{job_name}/manifest.json"
    poll = s.number("poll_s", int)
    wait = {"wait_for_completion": True, "deferrable": True, "check_interval": poll, **conn}
    if spec["tune"]:
        config = sagemaker.tuning_request(spec, s, names, job_name, manifest_uri, lake)
        slots = {"submit_training": "this run tunes (param tune): submit_tuning trains",
                 "await_training": "this run tunes (param tune)",
                 "submit_tuning": {"config": config, "max_ingestion_time": int(spec["timeout_s"]) + 3600, **wait},
                 "await_tuning": {"job_name": job_name, "poke_interval": poll, "mode": "reschedule", **conn}}
        lines = sagemaker.training_cost(s, jobs=spec["n_trials"])
    else:
        config = sagemaker.training_request(spec, s, names, job_name, manifest_uri, lake)
        slots = {"submit_training": {"config": config, "check_if_job_exists": True, "action_if_job_exists": "fail",
                                     "print_log": False, **wait},
                 "await_training": {"job_name": job_name, "poke_interval": poll, "mode": "reschedule", "print_log": False, **conn},
                 "submit_tuning": "this run does not tune (param tune is off)",
                 "await_tuning": "this run does not tune (param tune is off)"}
        lines = sagemaker.training_cost(s)
    return {**slots, "output": {"kind": "tuning" if spec["tune"] else "training", "job": job_name, **conn},
            "cost": cost.estimate(lines, cost.prices(), cost.spot_discount())}


def operators(plan, cloud) -> dict:
    explain, console = f"{HERE}.sagemaker:explain_training", f"{HERE}.sagemaker:console_job"
    return {
        "submit_training": cloud("submit_training", "operators.sagemaker.SageMakerTrainingOperator", plan["submit_training"],
                                 attach=f"{HERE}.sagemaker:find_training", explain=explain, console=console),
        "await_training": cloud("await_training", "sensors.sagemaker.SageMakerTrainingSensor", plan["await_training"],
                                explain=explain, console=console),
        "submit_tuning": cloud("submit_tuning", "operators.sagemaker.SageMakerTuningOperator", plan["submit_tuning"],
                               attach=f"{HERE}.sagemaker:find_tuning", explain=explain, console=console),
        "await_tuning": cloud("await_tuning", "sensors.sagemaker.SageMakerTuningSensor", plan["await_tuning"],
                              explain=explain, console=console),
    }
