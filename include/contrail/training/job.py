"""The training job: fit on a window of feature days and write the model and its evidence to a folder.

The same code runs in the Airflow worker (local profile) and in a managed training container
(SageMaker, Vertex AI, Azure ML): it reads feature partitions (`dt=YYYY-MM-DD/*.parquet`) from a
folder, the lake's own or the copy a managed service made, and writes everything a registration
needs into an output folder. Results come back through storage, never through a return value:

    output/model/                   the MLflow model (sklearn pipeline, signature, input example)
    output/result.json              params, threshold, holdout and validation metrics, slices, rows, tuning
    output/reference_profile.json   what drift monitoring compares scored days with, and its calibrated thresholds
    output/plots/*.png              ROC, calibration, feature importance

    python -m contrail.training.job --spec spec.json --features DIR --output DIR
    python -m contrail.training.job train      # SageMaker's conventions under /opt/ml
    python -m contrail.training.job --spec /gcs/... --features /gcs/... [--num_leaves=63 ...]
                                               # Vertex AI: output to AIP_MODEL_DIR, trial parameters as flags

It imports no Airflow and no cloud SDK. The validation ROC AUC is printed as
`validation:roc_auc=<value>`, the line a managed tuner's metric definition reads.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from contrail.training import metrics, model
from contrail.training.window import WindowError

SPLIT = ("train", "validation", "holdout")
OBJECTIVE = "validation:roc_auc"  # the metric managed tuners maximise, printed as OBJECTIVE=<value>
SAGEMAKER = Path("/opt/ml")
VERTEX_METRIC = "validation_roc_auc"  # the metric id a Vertex AI tuning job maximises (hypertune's file)
HYPERTUNE_FILE = "/tmp/hypertune/output.metrics"  # noqa: S108  # nosec B108  # the fixed path Vertex AI reads a trial's metric from, inside its container


class JobError(WindowError):
    """The job cannot train on what it was given; the message says which days or setting."""


def spec(split: dict, *, params: dict | None = None, tune: bool = False, n_trials: int = 20,
         timeout_s: float = 600, seed: int = 13) -> dict:
    """The job's whole input besides the feature files: the split by time and the training options."""
    return {"split": {part: list(split[part]) for part in SPLIT}, "params": dict(params or {}), "tune": bool(tune),
            "n_trials": int(n_trials), "timeout_s": float(timeout_s), "seed": int(seed)}


def to_hyperparameters(job_spec: dict) -> dict[str, str]:
    """The spec as string hyperparameters (SageMaker, Vertex AI and Azure ML pass only strings)."""
    hp = {f"{part}_days": ",".join(job_spec["split"][part]) for part in SPLIT}
    hp.update({k: str(v) for k, v in job_spec["params"].items()})
    hp.update(seed=str(job_spec["seed"]))
    return hp


def from_hyperparameters(hp: dict) -> dict:
    """The spec back from string hyperparameters; model parameters typed by the search space."""
    split = {part: [d for d in str(hp.get(f"{part}_days", "")).split(",") if d] for part in SPLIT}
    params = {}
    for name, space in model.SEARCH_SPACE.items():
        if name in hp:
            value = float(hp[name])
            params[name] = int(round(value)) if space.kind == "int" else value
    return spec(split, params=params, seed=int(hp.get("seed", 13)))


def load_days(features_dir: Path, days: list[str]):
    """The features rows of `days` from `features_dir/dt=<day>/` (day order), with their `dt`."""
    import pandas as pd
    import pyarrow.parquet as pq

    frames = []
    for day in days:
        folder = Path(features_dir) / f"dt={day}"
        files = sorted(p for p in folder.glob("*.parquet") if not p.name.startswith((".", "_")))
        if not files:
            raise JobError(f"no features for {day}: {folder} holds no Parquet file (was the day's features partition "
                           "copied into the job's input?)")
        frames += [pq.read_table(f).to_pandas().assign(dt=day) for f in files]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _xy(frame, part: str, days: list[str]):
    if frame.empty:
        raise JobError(f"the {part} set holds no rows")
    y = frame[model.LABEL].astype(int).to_numpy()
    classes = sorted(set(int(v) for v in y))
    if classes != [0, 1]:
        raise JobError(f"the {part} days {days[0]}..{days[-1]} hold one class only (label {classes}): "
                       "a delay model needs late and on-time flights; widen the window")
    return model.inputs(frame), y


def fit(frames: dict, job_spec: dict) -> dict:
    """Tune (optional), fit on train, pick the threshold on validation, score the holdout."""
    import pandas as pd

    split = job_spec["split"]
    (train_x, train_y), (valid_x, valid_y), (hold_x, hold_y) = (_xy(frames[p], p, split[p]) for p in SPLIT)
    seed, chosen, tuning = job_spec["seed"], model.check_params(job_spec["params"]), None
    if job_spec["tune"]:
        from contrail.training import tuning as tuner

        tuning = tuner.tune(train_x, train_y, valid_x, valid_y, job_spec["n_trials"], job_spec["timeout_s"], seed)
        chosen = model.check_params(tuning["params"])
        tuning["search_space"] = {name: vars(space) for name, space in model.SEARCH_SPACE.items()}
    pipeline = model.fit(chosen, train_x, train_y, seed)
    p_valid = pipeline.predict_proba(valid_x)[:, 1]
    threshold = metrics.operating_threshold(valid_y, p_valid)
    p_hold = pipeline.predict_proba(hold_x)[:, 1]
    window_frame = pd.concat([frames[p] for p in SPLIT], ignore_index=True)
    return {
        "pipeline": pipeline, "params": chosen, "threshold": threshold, "tuning": tuning,
        "holdout": metrics.evaluate(hold_y, p_hold, threshold), "validation": metrics.evaluate(valid_y, p_valid, threshold),
        "slices": metrics.slice_auc(frames["holdout"], p_hold), "rows": {p: len(frames[p]) for p in SPLIT},
        "hold_y": hold_y, "hold_p": p_hold, "example": hold_x.head(5),
        "reference": window_frame.assign(prediction=model.out_of_fold(chosen, window_frame, seed)),
    }


def write_outputs(result: dict, output: Path, job_spec: dict) -> dict:
    """Write the model, result.json, the drift reference profile and the plots; return result.json's content."""
    import mlflow
    from mlflow.models import infer_signature

    from contrail.monitoring import calibration
    from contrail.training import plots

    output.mkdir(parents=True, exist_ok=True)
    pipeline, example = result["pipeline"], result["example"]
    with model.quiet_serialisation():
        mlflow.sklearn.save_model(pipeline, str(output / "model"), signature=infer_signature(example, pipeline.predict_proba(example)),
                                  input_example=example, pip_requirements=list(model.PIP_REQUIREMENTS),
                                  pyfunc_predict_fn="predict_proba", skops_trusted_types=list(model.TRUSTED_TYPES))
    importance = model.importances(pipeline)
    summary = {"spec": job_spec, "params": result["params"], "threshold": result["threshold"], "holdout": result["holdout"],
               "validation": result["validation"], "slices": result["slices"], "rows": result["rows"],
               "tuning": result["tuning"], "importance": importance}
    (output / "result.json").write_text(json.dumps(summary, indent=1, default=float))
    profile = calibration.reference_profile(result["reference"], model.NUMERIC, model.CATEGORICAL, model.PER_DAY)
    (output / "reference_profile.json").write_text(json.dumps(profile))
    plots.write_all(output / "plots", result["hold_y"], result["hold_p"], importance)
    return summary


def run(job_spec: dict, features_dir: Path, output: Path) -> dict:
    """The whole job: load the window's days, fit, write the outputs; returns result.json's content."""
    split = job_spec["split"]
    if not all(split[p] for p in SPLIT):
        raise JobError(f"the split needs train, validation and holdout days, got {({p: len(split[p]) for p in SPLIT})}")
    frames = {part: load_days(Path(features_dir), split[part]) for part in SPLIT}
    summary = write_outputs(fit(frames, job_spec), Path(output), job_spec)
    print(f"{OBJECTIVE}={summary['validation']['roc_auc']:.6f}", flush=True)
    print(f"holdout:roc_auc={summary['holdout']['roc_auc']:.6f}", flush=True)
    return summary


def sagemaker_main(root: Path = SAGEMAKER) -> None:
    """`train` inside a SageMaker container: hyperparameters, the `features` channel, /opt/ml/model."""
    hp = json.loads((root / "input/config/hyperparameters.json").read_text())
    try:
        run(from_hyperparameters(hp), root / "input/data/features", root / "model")
    except Exception as exc:  # SageMaker shows this file as the job's FailureReason
        (root / "output").mkdir(parents=True, exist_ok=True)
        (root / "output/failure").write_text(f"{type(exc).__name__}: {exc}"[:1000])
        raise


def fuse_path(uri: str) -> Path:
    """A gs:// URI as the path Cloud Storage FUSE mounts it at inside a Vertex AI job; a path stays itself."""
    return Path("/gcs/" + uri.split("://", 1)[1]) if uri.startswith("gs://") else Path(uri)


def report_hypertune(value: float, environ=None) -> None:
    """A Vertex AI tuning trial's metric, in the metrics file its hypertune service reads (cloudml-hypertune's format)."""
    import os
    import time

    environ = os.environ if environ is None else environ
    if "CLOUD_ML_TRIAL_ID" not in environ and "CLOUD_ML_HP_METRIC_FILE" not in environ:
        return  # not a tuning trial
    path = Path(environ.get("CLOUD_ML_HP_METRIC_FILE", HYPERTUNE_FILE))
    path.parent.mkdir(parents=True, exist_ok=True)
    line = {"timestamp": time.time(), "trial": str(environ.get("CLOUD_ML_TRIAL_ID", "0")), VERTEX_METRIC: str(value),
            "global_step": "0", "checkpoint_path": ""}
    with path.open("a") as fh:
        fh.write(json.dumps(line) + "\n")


def report_azureml(value: float, environ=None) -> None:
    """An Azure ML sweep trial's metric, logged to the trial's MLflow run (Azure ML sets AZUREML_RUN_ID,
    MLFLOW_TRACKING_URI and MLFLOW_RUN_ID in a job), where the sweep's objective reads it. A failure to log only
    warns: the model is written, and Contrail picks the best trial by its result.json."""
    import os

    environ = os.environ if environ is None else environ
    if "AZUREML_RUN_ID" not in environ:
        return  # not inside Azure ML
    try:
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=environ.get("MLFLOW_TRACKING_URI"))
        client.log_metric(environ.get("MLFLOW_RUN_ID") or environ["AZUREML_RUN_ID"], VERTEX_METRIC, value)
    except Exception as exc:  # noqa: BLE001  (e.g. the image lacks azureml-mlflow for an azureml:// tracking URI)
        print(f"warning: {VERTEX_METRIC} not logged to the trial's MLflow run: {type(exc).__name__}: {exc}", flush=True)


def main(argv: list[str] | None = None, environ=None) -> None:
    import os

    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    if argv[:1] == ["train"]:
        sagemaker_main()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="the job spec (JSON file)")
    parser.add_argument("--features", required=True, help="folder holding dt=YYYY-MM-DD/ feature partitions")
    parser.add_argument("--output", help="folder the model and its evidence are written to (default: AIP_MODEL_DIR)")
    for name in model.SEARCH_SPACE:  # a Vertex AI tuning trial passes its parameters as --name=value
        parser.add_argument(f"--{name}", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    output = args.output or environ.get("AIP_MODEL_DIR")
    if not output:
        parser.error("--output is required outside Vertex AI (which sets AIP_MODEL_DIR)")
    job_spec = json.loads(fuse_path(args.spec).read_text())
    trial = {name: getattr(args, name) for name in model.SEARCH_SPACE if getattr(args, name) is not None}
    if trial:  # one trial of the managed tuner: train with its parameters, do not tune again inside it
        hp = {**to_hyperparameters({**job_spec, "params": {}}), **trial}
        job_spec = {**from_hyperparameters(hp), "n_trials": job_spec["n_trials"], "timeout_s": job_spec["timeout_s"]}
    summary = run(job_spec, fuse_path(args.features), fuse_path(output))
    report_hypertune(summary["validation"]["roc_auc"], environ)
    if trial:
        report_azureml(summary["validation"]["roc_auc"], environ)


if __name__ == "__main__":
    main()
