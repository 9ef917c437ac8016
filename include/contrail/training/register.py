"""Register what a training job wrote (training/job.py's output folder) in MLflow, the registry of record.

Whichever platform trained the model, the output folder is the same, so the MLflow run, the model
version and its `contrail.*` tags are the same too. Everything a promotion or an audit needs rides on
the version as tags: the window and its split, the holdout days, the operating threshold, the
holdout metrics, the job that trained it, and a digest of the lineage (per day: the features
partition's sha256 and row count and the quality verdicts), whose full text is the run artifact
lineage.json. A retried registration of the same job finds the version it registered before.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
from pathlib import Path

from contrail import config
from contrail.training import model

log = logging.getLogger(__name__)
TAG = "contrail."


def code_version() -> str:
    """The git commit of the project (with -dirty when it has local changes), else CONTRAIL_CODE_VERSION."""
    import os

    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=config.PROJECT_ROOT, capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()  # nosec B607  # git from PATH, fixed argv
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=config.PROJECT_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()  # nosec B607  # as above
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return os.environ.get("CONTRAIL_CODE_VERSION", "unknown")


def registered_by(client, model_name: str, job_name: str):
    """The version an earlier registration of `job_name` created, or None."""
    for mv in client.search_model_versions(f"name='{model_name}'"):
        if mv.tags.get(TAG + "job") == job_name:
            return mv
    return None


def candidate(mv, client) -> dict:
    """The training task's result: what the promotion needs, read back from a registered version."""
    tags = mv.tags
    return {"model": mv.name, "version": str(mv.version), "run_id": tags[TAG + "run_id"], "window": tags[TAG + "window"], "due": tags.get(TAG + "due"),
            "holdout_days": tags[TAG + "holdout_days"].split(","), "job": tags.get(TAG + "job"),
            "metrics": {k[len(TAG + "holdout_"):]: float(v) for k, v in tags.items() if k.startswith(TAG + "holdout_")
                        and k != TAG + "holdout_days"},
            "params": dict(client.get_run(tags[TAG + "run_id"]).data.params)}


def register(output: Path, model_name: str, lineage: dict, job: dict) -> dict:
    """Log the job's output folder as an MLflow run and register its model; returns the candidate.

    `job` names the job (`name`, `platform`, and optionally `cost_usd`); `lineage` is window.lineage()
    of the window's days, taken when the job was planned.
    """
    import mlflow

    from contrail.registry import tracking, trust

    model_folder = trust.check_folder(Path(output) / "model", f"the model of job {job['name']}")  # before MLflow sees it
    tracking.configure()
    client = mlflow.MlflowClient()
    earlier = registered_by(client, model_name, job["name"])
    if earlier is not None:
        log.info("%s v%s was registered from job %s already", model_name, earlier.version, job["name"])
        return candidate(earlier, client)
    output = Path(output)
    result = json.loads((output / "result.json").read_text())
    split, holdout = result["spec"]["split"], result["holdout"]
    days = [*split["train"], *split["validation"], *split["holdout"]]
    version_tags = {
        "window": f"{days[0]}..{days[-1]}", "holdout_days": ",".join(split["holdout"]),
        "threshold": f"{result['threshold']:.6f}",
        "lineage_sha256": hashlib.sha256(json.dumps(lineage, sort_keys=True).encode()).hexdigest(),
        "quality": json.dumps({d: {t: q["status"] for t, q in v["quality"].items()} for d, v in lineage.items()})[:4900],
        "code_version": code_version(), "job": job["name"], "platform": job["platform"],
        **{key: job[key] for key in ("due", "reason") if job.get(key)},
        **{f"holdout_{k}": f"{v:.6f}" for k, v in holdout.items()},
    }
    with mlflow.start_run(run_name=f"train {version_tags['window']}") as run:
        mlflow.set_tags({TAG + k: v for k, v in version_tags.items()})
        mlflow.log_params({**result["params"], "tuning": bool(result["tuning"]), "window_start": days[0],
                           "window_end": days[-1], "days": len(days), "threshold": round(result["threshold"], 6),
                           **{f"rows_{k}": v for k, v in result["rows"].items()}})
        mlflow.log_metrics({**{f"holdout_{k}": v for k, v in holdout.items()},
                            **{f"validation_{k}": v for k, v in result["validation"].items()},
                            **({"cost_usd": job["cost_usd"]} if job.get("cost_usd") is not None else {})})
        mlflow.log_dict(lineage, "lineage.json")
        mlflow.log_dict({**split, "features": list(model.FEATURES), "label": model.LABEL}, "window.json")
        mlflow.log_dict(result["slices"], "holdout_slices.json")
        mlflow.log_dict(result["importance"], "feature_importance.json")
        mlflow.log_artifact(str(output / "reference_profile.json"))
        if result["tuning"]:
            mlflow.log_dict(result["tuning"], "tuning.json")
        mlflow.log_artifacts(str(output / "plots"), "plots")
        with model.quiet_serialisation():
            pipeline = mlflow.sklearn.load_model(str(model_folder))
            saved = mlflow.models.Model.load(str(output / "model"))
            info = mlflow.sklearn.log_model(
                pipeline, name="model", signature=saved.signature, input_example=saved.load_input_example(str(output / "model")),
                pip_requirements=list(model.PIP_REQUIREMENTS), pyfunc_predict_fn="predict_proba",
                skops_trusted_types=list(model.TRUSTED_TYPES), registered_model_name=model_name)
    version = str(info.registered_model_version)
    for key, value in {**version_tags, "run_id": run.info.run_id}.items():
        client.set_model_version_tag(model_name, version, TAG + key, value)
    from contrail import metrics

    metrics.gauge("model.holdout_roc_auc", holdout["roc_auc"])
    log.info("registered %s v%s from job %s (%s), window %s: holdout ROC AUC %.4f, PR AUC %.4f (%d holdout rows)",
             model_name, version, job["name"], job["platform"], version_tags["window"], holdout["roc_auc"],
             holdout["pr_auc"], holdout["rows"])
    return {"model": model_name, "version": version, "run_id": run.info.run_id, "window": version_tags["window"],
            "holdout_days": split["holdout"], "job": job["name"], "metrics": holdout, "params": result["params"],
            **({"cost_usd": job["cost_usd"]} if job.get("cost_usd") is not None else {})}
