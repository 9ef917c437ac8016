"""Train one challenger on a window, evaluate it on the holdout, and log and register it in MLflow.

Everything a promotion or an audit needs rides on the registered version as tags: the window and
its split, the holdout days, the operating threshold, the holdout metrics, and a digest of the
lineage (per day: the features partition's sha256 and row count and the quality verdicts), whose
full text is the run artifact lineage.json.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import tempfile
from pathlib import Path

from contrail import config
from contrail.training import metrics, model, window

log = logging.getLogger(__name__)
TAG = "contrail."


def code_version() -> str:
    """The git commit of the project (with -dirty when it has local changes), else CONTRAIL_CODE_VERSION."""
    import os

    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=config.PROJECT_ROOT, capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=config.PROJECT_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return os.environ.get("CONTRAIL_CODE_VERSION", "unknown")


def xy(frame, what: str):
    if frame.empty:
        raise window.WindowError(f"the {what} set holds no rows")
    return model.inputs(frame), frame[model.LABEL].astype(int).to_numpy()


def check_classes(y, what: str, days: list[str]) -> None:
    classes = sorted(set(int(v) for v in y))
    if classes != [0, 1]:
        raise window.WindowError(f"the {what} days {days[0]}..{days[-1]} hold one class only (label {classes}): "
                                 "a delay model needs late and on-time flights; widen the window")


def fit(split: window.Split, *, tune: bool = False, n_trials: int = 20, timeout_s: float = 600,
        params: dict | None = None, seed: int = 13) -> dict:
    """Load the window, tune (optional), fit on train, pick the threshold on validation, score the holdout."""
    import pandas as pd

    frames = {part: window.load(days) for part, days in split.as_dict().items()}
    (train_x, train_y), (valid_x, valid_y), (hold_x, hold_y) = (xy(frames[p], p) for p in ("train", "validation", "holdout"))
    for part, y in (("train", train_y), ("validation", valid_y), ("holdout", hold_y)):
        check_classes(y, part, split.as_dict()[part])
    search = tuning_result = None
    chosen = model.check_params(params or {})
    if tune:
        from contrail.training import tuning

        tuning_result = tuning.tune(train_x, train_y, valid_x, valid_y, n_trials, timeout_s, seed)
        chosen = model.check_params(tuning_result["params"])
        search = {name: vars(space) for name, space in model.SEARCH_SPACE.items()}
    pipeline = model.fit(chosen, train_x, train_y, seed)
    threshold = metrics.operating_threshold(valid_y, pipeline.predict_proba(valid_x)[:, 1])
    p_hold = pipeline.predict_proba(hold_x)[:, 1]
    window_frame = pd.concat(frames.values(), ignore_index=True)
    reference = window_frame.assign(prediction=pipeline.predict_proba(model.inputs(window_frame))[:, 1])
    return {
        "pipeline": pipeline, "params": chosen, "threshold": threshold, "tuning": tuning_result, "search_space": search,
        "holdout": metrics.evaluate(hold_y, p_hold, threshold),
        "validation": metrics.evaluate(valid_y, pipeline.predict_proba(valid_x)[:, 1], threshold),
        "slices": metrics.slice_auc(frames["holdout"], p_hold), "rows": {p: len(f) for p, f in frames.items()},
        "hold_y": hold_y, "hold_p": p_hold, "example": hold_x.head(5), "reference": reference,
    }


def train(split: window.Split, *, model_name: str = model.MODEL_NAME, **options) -> dict:
    """Fit, then log the run and register the model; returns the candidate (name, version, run, metrics, holdout)."""
    import mlflow
    from mlflow.models import infer_signature

    from contrail.monitoring import drift
    from contrail.registry import tracking
    from contrail.training import plots

    tracking.configure()  # fail fast on an unreachable server, before any training
    lineage = window.lineage(split.days)
    lineage_digest = hashlib.sha256(json.dumps(lineage, sort_keys=True).encode()).hexdigest()
    result = fit(split, **options)
    pipeline, holdout = result["pipeline"], result["holdout"]
    version_tags = {
        "window": f"{split.days[0]}..{split.days[-1]}", "holdout_days": ",".join(split.holdout),
        "threshold": f"{result['threshold']:.6f}", "lineage_sha256": lineage_digest,
        "quality": json.dumps({d: {t: q["status"] for t, q in v["quality"].items()} for d, v in lineage.items()})[:4900],
        "code_version": code_version(), **{f"holdout_{k}": f"{v:.6f}" for k, v in holdout.items()},
    }
    with mlflow.start_run(run_name=f"train {version_tags['window']}") as run:
        mlflow.set_tags({TAG + k: v for k, v in version_tags.items()})
        mlflow.log_params({**result["params"], "tuning": bool(result["tuning"]), "window_start": split.days[0],
                           "window_end": split.days[-1], "days": len(split.days), "threshold": round(result["threshold"], 6),
                           **{f"rows_{k}": v for k, v in result["rows"].items()}})
        mlflow.log_metrics({**{f"holdout_{k}": v for k, v in holdout.items()},
                            **{f"validation_{k}": v for k, v in result["validation"].items()}})
        mlflow.log_dict(lineage, "lineage.json")
        mlflow.log_dict({**split.as_dict(), "features": list(model.FEATURES), "label": model.LABEL}, "window.json")
        mlflow.log_dict(result["slices"], "holdout_slices.json")
        # what drift monitoring compares each scored day with: the window's features and predictions
        mlflow.log_dict(drift.reference_profile(result["reference"], [*model.NUMERIC, "prediction"], list(model.CATEGORICAL)),
                        "reference_profile.json")
        importance = model.importances(pipeline)
        mlflow.log_dict(importance, "feature_importance.json")
        if result["tuning"]:
            mlflow.log_dict({"search_space": result["search_space"], **result["tuning"]}, "tuning.json")
        with tempfile.TemporaryDirectory() as tmp:
            for path in plots.write_all(Path(tmp), result["hold_y"], result["hold_p"], importance):
                mlflow.log_artifact(str(path), "plots")
        example = result["example"]
        with model.quiet_serialisation():
            info = mlflow.sklearn.log_model(
                pipeline, name="model", signature=infer_signature(example, pipeline.predict_proba(example)),
                input_example=example, pip_requirements=list(model.PIP_REQUIREMENTS), pyfunc_predict_fn="predict_proba",
                skops_trusted_types=list(model.TRUSTED_TYPES), registered_model_name=model_name)
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    for key, value in {**version_tags, "run_id": run.info.run_id}.items():
        client.set_model_version_tag(model_name, version, TAG + key, value)
    log.info("trained %s v%s on %s: holdout ROC AUC %.4f, PR AUC %.4f (%d holdout rows)", model_name, version,
             version_tags["window"], holdout["roc_auc"], holdout["pr_auc"], holdout["rows"])
    return {"model": model_name, "version": version, "run_id": run.info.run_id, "window": version_tags["window"],
            "holdout_days": split.holdout, "metrics": holdout, "params": result["params"]}
