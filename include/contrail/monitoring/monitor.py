"""Per-day monitoring of the scored days: drift against the scoring model's training reference,
realised performance and its decay, reports, MLflow figures, and whether to ask for retraining.

Thresholds (environment, defaults in brackets): CONTRAIL_DRIFT_PSI [0.2] marks a feature drifted;
CONTRAIL_DRIFT_SHARE [0.5] of the features drifted, or CONTRAIL_PREDICTION_PSI [0.2] on the
prediction, or CONTRAIL_DECAY_ROC_AUC [0.05] lost against the holdout ROC AUC asks for retraining.
CONTRAIL_RETRAIN_COOLDOWN_DAYS [7]: at most one retraining request per that many data days.
CONTRAIL_DRIFT_WINDOW_DAYS [7]: drift of a day is measured on the trailing days (this many, ending at
it) scored by the same model; realised performance on the day alone.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tempfile
from pathlib import Path

from contrail import datasets, scoring, storage
from contrail.dates import parse_day
from contrail.quality import ledger
from contrail.training.model import PER_DAY

log = logging.getLogger(__name__)
EXPERIMENT = "contrail-monitoring"


def thresholds() -> dict[str, float]:
    env = os.environ.get
    return {"psi": float(env("CONTRAIL_DRIFT_PSI", "0.2")), "drift_share": float(env("CONTRAIL_DRIFT_SHARE", "0.5")),
            "prediction_psi": float(env("CONTRAIL_PREDICTION_PSI", "0.2")),
            "decay": float(env("CONTRAIL_DECAY_ROC_AUC", "0.05")), "cooldown_days": int(env("CONTRAIL_RETRAIN_COOLDOWN_DAYS", "7")),
            "window_days": int(env("CONTRAIL_DRIFT_WINDOW_DAYS", "7"))}


def figures_path(day: str):
    return storage.location(f"monitoring/dt={day}/figures.json")


def stale_days() -> list[str]:
    """Scored days whose predictions are newer than their monitoring figures."""
    scored = storage.partition_mtimes(storage.location(datasets.PREDICTIONS.path))
    done = storage.partition_mtimes(storage.location("monitoring"))
    return sorted(d for d, when in scored.items() if d not in done or done[d] <= when)


def reference(model_name: str, version: str) -> tuple[dict, dict]:
    """The training reference profile of a version and its holdout figures (from its MLflow run)."""
    import mlflow

    from contrail.registry import tracking

    mv = tracking.client().get_model_version(model_name, version)
    run = tracking.client().get_run(mv.tags["contrail.run_id"])
    profile = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/reference_profile.json")
    return profile, {"roc_auc": float(mv.tags["contrail.holdout_roc_auc"]), "log_loss": float(mv.tags["contrail.holdout_log_loss"])}


def performance(frame) -> dict | None:
    """Realised ROC AUC and log loss when the day's labels are known and hold both classes."""
    from contrail.training import metrics

    labelled = frame[frame["label"].notna()]
    if labelled.empty or labelled["label"].nunique() < 2:
        return None
    figures = metrics.evaluate(labelled["label"].astype(int), labelled["prediction"], 0.5)
    return {"roc_auc": figures["roc_auc"], "log_loss": figures["log_loss"], "rows": len(labelled)}


def reasons_to_retrain(summary: dict, prediction: dict, perf: dict | None, ref: dict, limits: dict) -> list[str]:
    reasons = []
    share = len(summary["drifted"]) / max(summary["n_features"], 1)
    if share >= limits["drift_share"]:
        reasons.append(f"{len(summary['drifted'])} of {summary['n_features']} features drifted (PSI >= {limits['psi']}): "
                       + ", ".join(summary["drifted"]))
    if prediction["psi"] >= limits["prediction_psi"]:
        reasons.append(f"prediction distribution drifted: PSI {prediction['psi']:.3f} >= {limits['prediction_psi']}")
    if perf is not None and ref["roc_auc"] - perf["roc_auc"] >= limits["decay"]:
        reasons.append(f"ROC AUC decayed {ref['roc_auc']:.4f} -> {perf['roc_auc']:.4f} (by >= {limits['decay']})")
    return reasons


def monitor_day(day: str, limits: dict | None = None) -> dict:
    """Drift, performance, report and MLflow figures of one scored day; returns its figures."""
    import pandas as pd

    from contrail.monitoring import drift

    limits = limits or thresholds()
    manifest = scoring.read_manifest(day)
    if manifest is None:
        raise storage.MissingPartition(f"{day} has no scoring manifest (scoring/dt={day}/model.json): score it first")
    model_name, version = manifest["model_name"], manifest["model_version"]
    days = trailing_days(day, manifest, limits["window_days"])
    frames = {d: storage.read_parquet(storage.location(datasets.PREDICTIONS.partition(parse_day(d)))) for d in days}
    frame = frames[day].rename(columns={"probability": "prediction"})
    current = pd.concat(frames.values(), ignore_index=True).rename(columns={"probability": "prediction"})
    profile, ref = reference(model_name, version)
    result = drift.compare(profile, current)
    prediction = result.pop("prediction")
    summary = drift.summarise(result, psi_threshold=limits["psi"], ignore=PER_DAY)
    summary["current"] = f"{len(days)} scored day(s) {days[0]}..{days[-1]}, {len(current)} rows"
    perf = performance(frame)
    reasons = reasons_to_retrain(summary, prediction, perf, ref, limits)
    decay = None if perf is None else {"reference_roc_auc": ref["roc_auc"], "roc_auc": perf["roc_auc"],
                                       "decay": ref["roc_auc"] - perf["roc_auc"]}
    figures = {"dt": day, "model": model_name, "version": version, "rows": len(frame), "drift_days": days,
               "drift_rows": len(current), "max_psi": summary["max_psi"],
               "max_psi_feature": summary["max_psi_feature"], "drifted": summary["drifted"],
               "prediction_psi": prediction["psi"], "performance": perf, "decay": decay, "retrain_reasons": reasons,
               "usable": not ledger.usable_days("features", [day])[1]}
    history = [f for f in (read_figures(d) for d in recent_days(day)) if f and f.get("performance")]
    series = [{"dt": f["dt"], **f["performance"]} for f in history] + ([{"dt": day, **perf}] if perf else [])
    figures["report"] = write_report(day, model_name, version, {**result, "prediction": prediction}, summary, profile,
                                     series, decay, reasons, limits["psi"])
    figures["mlflow_run_id"] = log_to_mlflow(figures, result)
    path = figures_path(day)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=1, default=str))
    from contrail import metrics

    metrics.drift(figures)
    log.info("drift %s (%s v%s): max PSI %.3f (%s), prediction PSI %.3f, ROC AUC %s%s | report %s", day, model_name, version,
             summary["max_psi"], summary["max_psi_feature"], prediction["psi"],
             f"{perf['roc_auc']:.4f}" if perf else "n/a", f" | RETRAIN: {'; '.join(reasons)}" if reasons else "",
             figures["report"])
    return figures


def trailing_days(day: str, manifest: dict, window_days: int) -> list[str]:
    """The scored days of the `window_days` ending at `day` that the same model version scored, oldest first.

    Drift is measured on these together: one day holds one day's weather and calendar, so against a
    reference of weeks it looks drifted every day; a trailing week shows whether the data moved.
    """
    first = parse_day(day) - dt.timedelta(days=window_days - 1)
    candidates = [f"{first + dt.timedelta(days=i):%Y-%m-%d}" for i in range(window_days - 1)]
    scorer = (manifest["model_name"], manifest["model_version"])
    manifests = {d: scoring.read_manifest(d) or {} for d in candidates}
    return [*(d for d, m in manifests.items() if (m.get("model_name"), m.get("model_version")) == scorer), day]


def read_figures(day: str) -> dict | None:
    path = figures_path(day)
    return json.loads(path.read_text()) if path.exists() else None


def recent_days(day: str, count: int = 30) -> list[str]:
    done = sorted(storage.partition_mtimes(storage.location("monitoring")))
    return [d for d in done if d < day][-count:]


def write_report(day, model_name, version, drift_result, summary, profile, series, decay, reasons, psi_threshold) -> str:
    from contrail.monitoring import report

    dest = storage.location(f"reports/drift/dt={day}/report.html")
    with tempfile.TemporaryDirectory() as tmp:
        local = report.write_html(Path(tmp) / "report.html", day=day, model=model_name, version=version, drift=drift_result,
                                  summary=summary, profile=profile, performance=series or None, decay=decay, reasons=reasons,
                                  psi_threshold=psi_threshold)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(local.read_bytes())
    return str(dest)


def log_to_mlflow(figures: dict, result: dict) -> str:
    """One run per monitored day in the monitoring experiment, tagged with the model version it judges."""
    import mlflow

    from contrail.registry import tracking

    experiment_id = tracking.configure(EXPERIMENT)
    metrics = {"max_psi": figures["max_psi"], "prediction_psi": figures["prediction_psi"], "drifted_features": len(figures["drifted"]),
               **{f"psi_{name}": r["psi"] for name, r in result.items()}}
    if figures["performance"]:
        metrics.update(roc_auc=figures["performance"]["roc_auc"], log_loss=figures["performance"]["log_loss"],
                       roc_auc_decay=figures["decay"]["decay"])
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"drift {figures['dt']}") as run:
        mlflow.set_tags({"contrail.dt": figures["dt"], "contrail.model": figures["model"],
                         "contrail.model_version": figures["version"], "contrail.retrain": str(bool(figures["retrain_reasons"]))})
        mlflow.log_metrics(metrics)
        mlflow.log_text(storage.location(f"reports/drift/dt={figures['dt']}/report.html").read_text(), "drift_report.html")
    tracking.client().set_model_version_tag(figures["model"], figures["version"], "contrail.last_monitored",
                                            f"{figures['dt']} max_psi={figures['max_psi']:.3f}")
    return run.info.run_id
