"""Per-day monitoring of the scored days, out of time: drift against the scoring model's training
reference, realised performance and its decay, reports, MLflow figures, and whether to ask for retraining.

A day inside the scoring model's own window (its train, validation or holdout days) is "in window,
not judged": the model has seen it, so its figures say nothing about decay or drift (a model scores
its training days far better than any other). Its figures file and report say so, and it never asks
for retraining. A degraded day (`contrail.quality.degraded`: its weather failed or is missing for many
flights) is "degraded, not judged": its realised performance is shown, its drift is not judged, and
it is left out of the trailing days of the days after it. A day after the window is judged: drift over the trailing days after the window that
the same model scored (up to CONTRAIL_DRIFT_WINDOW_DAYS), realised performance on the day alone,
with the days since the window's end. The thresholds are those its training calibrated on the
window's own noise (`contrail.monitoring.calibration`; the settings are listed there).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
from pathlib import Path

from contrail import datasets, scoring, storage
from contrail.dates import parse_day
from contrail.monitoring import calibration
from contrail.quality import ledger
from contrail.training.model import PER_DAY

log = logging.getLogger(__name__)
EXPERIMENT = "contrail-monitoring"
NOT_JUDGED = "in window, not judged"
DEGRADED = "degraded, not judged"
thresholds = calibration.settings


def figures_path(day: str):
    return storage.location(f"monitoring/dt={day}/figures.json")


def stale_days() -> list[str]:
    """Scored days whose monitoring is missing or not current (`is_current`)."""
    scored = storage.partition_mtimes(storage.location(datasets.PREDICTIONS.path))
    done = storage.partition_mtimes(storage.location("monitoring"))
    return sorted(d for d in scored if d not in done or not is_current(d, read_figures(d) or {}, scored, done))


def is_current(day: str, figures: dict, scored: dict | None = None, done: dict | None = None) -> bool:
    """Whether a day's figures still stand: monitored after its predictions and after those of every trailing day
    it was judged with, and those trailing days are still the ones its model scored (a rescored neighbour
    changes what the day is judged against, in any order the days were scored in)."""
    scored = storage.partition_mtimes(storage.location(datasets.PREDICTIONS.path)) if scored is None else scored
    done = storage.partition_mtimes(storage.location("monitoring")) if done is None else done
    manifest = scoring.read_manifest(day)
    if not figures or manifest is None or day not in done or str(figures.get("version")) != str(manifest["model_version"]):
        return False
    if not figures.get("judged"):
        return done[day] > scored.get(day, 0)
    days = trailing_days(day, manifest, thresholds()["window_days"], after=figures["window"][1])
    return days == figures.get("drift_days") and all(done[day] > scored.get(d, 0) for d in days)


def reference(model_name: str, version: str) -> tuple[dict, dict]:
    """The training reference profile of a version, its holdout figures and its window's split (from its MLflow run)."""
    import mlflow

    from contrail.registry import tracking

    mv = tracking.client().get_model_version(model_name, version)
    run = tracking.client().get_run(mv.tags["contrail.run_id"])
    profile = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/reference_profile.json")
    window = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/window.json")
    split = {part: list(window[part]) for part in ("train", "validation", "holdout")}
    return profile, {"roc_auc": float(mv.tags["contrail.holdout_roc_auc"]), "log_loss": float(mv.tags["contrail.holdout_log_loss"]),
                     "split": split, "window_end": max(d for days in split.values() for d in days),
                     "window_start": min(d for days in split.values() for d in days)}


def window_part(day: str, ref: dict) -> str | None:
    """"train", "validation" or "holdout" when `day` lies in the model's window (its first to its last day)."""
    if not ref["window_start"] <= day <= ref["window_end"]:
        return None
    return next((part for part, days in ref["split"].items() if day in days), "train")


def performance(frame) -> dict | None:
    """Realised ROC AUC and log loss when the day's labels are known and hold both classes."""
    from contrail.training import metrics

    labelled = frame[frame["label"].notna()]
    if labelled.empty or labelled["label"].nunique() < 2:
        return None
    figures = metrics.evaluate(labelled["label"].astype(int), labelled["prediction"], 0.5)
    return {"roc_auc": figures["roc_auc"], "log_loss": figures["log_loss"], "rows": len(labelled)}


def alarm_limits(profile: dict, days: int, limits: dict, judged) -> dict:
    """The thresholds a comparison over `days` trailing days is judged by: the model's calibration, or for a version
    trained before calibration existed, the fixed settings."""
    if profile.get("calibration"):
        return calibration.limits_for(profile["calibration"], days)
    return calibration.fixed_limits(limits, judged)


def monitor_day(day: str, limits: dict | None = None) -> dict:
    """Drift, performance, report and MLflow figures of one scored day; returns its figures."""
    limits = limits or thresholds()
    manifest = scoring.read_manifest(day)
    if manifest is None:
        raise storage.MissingPartition(f"{day} has no scoring manifest (scoring/dt={day}/model.json): score it first")
    model_name, version = manifest["model_name"], manifest["model_version"]
    profile, ref = reference(model_name, version)
    part = window_part(day, ref)
    if part:
        figures = in_window(day, manifest, part, ref)
    elif manifest.get("degraded"):
        figures = degraded_day(day, manifest, ref)
    else:
        figures = judge(day, manifest, profile, ref, limits)
    figures["usable"] = not ledger.usable_days("features", [day])[1]
    figures["mlflow_run_id"] = log_to_mlflow(figures)
    path = figures_path(day)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=1, default=str))
    from contrail import metrics

    metrics.drift(figures)
    if part:
        log.info("drift %s (%s v%s): %s (a %s day of %s..%s) | report %s", day, model_name, version, NOT_JUDGED, part,
                 ref["window_start"], ref["window_end"], figures["report"])
    elif not figures["judged"]:
        log.warning("drift %s (%s v%s): %s (%s) | report %s", day, model_name, version, DEGRADED,
                    "; ".join(manifest["degraded"]), figures["report"])
    else:
        perf = figures["performance"]
        log.info("drift %s (%s v%s, %d day(s) after its window): max PSI %.3f (%s), prediction PSI %.3f, ROC AUC %s%s | report %s",
                 day, model_name, version, figures["days_after_window"], figures["max_psi"], figures["max_psi_feature"],
                 figures["prediction_psi"], f"{perf['roc_auc']:.4f}" if perf else "n/a",
                 f" | RETRAIN: {'; '.join(figures['retrain_reasons'])}" if figures["retrain_reasons"] else "", figures["report"])
    return figures


def not_judged(day: str, manifest: dict, ref: dict, verdict: str, **shown) -> dict:
    """The figures of a day monitoring shows without judging: no drift, no decay, no retraining request."""
    return {"dt": day, "model": manifest["model_name"], "version": manifest["model_version"], "rows": manifest.get("rows"),
            "judged": False, "verdict": verdict, "window_part": None, "window": [ref["window_start"], ref["window_end"]],
            "days_after_window": None, "max_psi": None, "max_psi_feature": None, "prediction_psi": None,
            "drifted": [], "drift_days": [], "performance": None, "decay": None, "retrain_reasons": [], **shown}


def in_window(day: str, manifest: dict, part: str, ref: dict) -> dict:
    """The figures of a day the model was trained on: no drift, no performance, no verdict."""
    from contrail.monitoring import report

    figures = not_judged(day, manifest, ref, NOT_JUDGED, window_part=part)
    figures["report"] = publish_report(day, lambda path: report.write_not_judged(path, figures))
    return figures


def degraded_day(day: str, manifest: dict, ref: dict) -> dict:
    """The figures of a degraded day after the window: its realised performance shown, not judged (its drift is the
    missing input's, not the world's), and it asks for no retraining."""
    from contrail.monitoring import report

    frame = storage.read_parquet(storage.location(datasets.PREDICTIONS.partition(parse_day(day))))
    after = (parse_day(day) - parse_day(ref["window_end"])).days
    perf = performance(frame.rename(columns={"probability": "prediction"}))
    figures = not_judged(day, manifest, ref, DEGRADED, degraded=list(manifest["degraded"]), days_after_window=after,
                         performance=perf and {**perf, "days_after_window": after})
    figures["report"] = publish_report(day, lambda path: report.write_degraded(path, figures))
    return figures


def judge(day: str, manifest: dict, profile: dict, ref: dict, limits: dict) -> dict:
    """Drift over the trailing days after the window, performance of the day, and the calibrated verdict."""
    import pandas as pd

    from contrail.monitoring import drift, report

    model_name, version = manifest["model_name"], manifest["model_version"]
    days = trailing_days(day, manifest, limits["window_days"], after=ref["window_end"])
    frames = {d: storage.read_parquet(storage.location(datasets.PREDICTIONS.partition(parse_day(d)))) for d in days}
    frame = frames[day].rename(columns={"probability": "prediction"})
    current = pd.concat(frames.values(), ignore_index=True).rename(columns={"probability": "prediction"})
    result, alarm, perf, reasons = assess(profile, current, frame, len(days), limits, ref["roc_auc"])
    prediction = result.pop("prediction")
    summary = drift.summarise(result, ignore=PER_DAY)
    summary["drifted"] = calibration.drifted_features(result, alarm)
    summary["current"] = f"{len(days)} scored day(s) {days[0]}..{days[-1]} after the window, {len(current)} rows"
    pooled = perf and perf.get("trailing")
    decay = None if not pooled else {"reference_roc_auc": ref["roc_auc"], "roc_auc": pooled["roc_auc"], "days": pooled["days"],
                                     "decay": ref["roc_auc"] - pooled["roc_auc"], "threshold": alarm.get("decay")}
    after = (parse_day(day) - parse_day(ref["window_end"])).days
    figures = {"dt": day, "model": model_name, "version": version, "rows": len(frame), "judged": True,
               "verdict": "retrain" if reasons else "stable", "window": [ref["window_start"], ref["window_end"]],
               "days_after_window": after, "drift_days": days, "drift_rows": len(current), "max_psi": summary["max_psi"],
               "max_psi_feature": summary["max_psi_feature"], "drifted": summary["drifted"],
               "prediction_psi": prediction["psi"], "psi": {c: r["psi"] for c, r in result.items()},
               "thresholds": alarm, "calibrated": bool(profile.get("calibration")),
               "performance": perf and {**perf, "days_after_window": after}, "decay": decay, "retrain_reasons": reasons}
    history = [f for f in (read_figures(d) for d in recent_days(day)) if f and f.get("performance")]
    series = [{"dt": f["dt"], **f["performance"]} for f in history] + ([{"dt": day, **perf}] if perf else [])
    figures["report"] = publish_report(day, lambda path: report.write_html(
        path, day=day, model=model_name, version=version, drift={**result, "prediction": prediction}, summary=summary,
        profile=profile, performance=series or None, decay=decay, reasons=reasons, limits=alarm))
    return figures


def assess(profile: dict, current, frame, days: int, limits: dict, reference_auc: float) -> tuple[dict, dict, dict | None, list[str]]:
    """The verdict on a day (`frame`, with `prediction` and `label`) judged with its trailing days (`current`, `days` of
    them) against the scoring model's reference: the drift figures, the thresholds they were held to, the day's
    realised performance (and, under `trailing`, that of the trailing days pooled, which the decay is judged on) and the
    reasons to retrain (empty: none). The DAG and the year replay both judge here."""
    from contrail.monitoring import drift

    result = drift.compare(profile, current)
    judged = [c for c in result if c not in PER_DAY and c != "prediction"]
    alarm = alarm_limits(profile, days, limits, judged)
    perf, pooled = performance(frame), performance(current)
    if perf is not None:
        perf["trailing"] = pooled and {**pooled, "days": days}
    return result, alarm, perf, calibration.alarms(result, alarm, limits["drift_share"], pooled and pooled["roc_auc"],
                                                   reference_auc, days)


def trailing_days(day: str, manifest: dict, window_days: int, after: str | None = None) -> list[str]:
    """The scored days of the `window_days` ending at `day` (and after the model's window end `after`) that the
    same model version scored, oldest first.

    Drift is measured on these together: one day holds one day's weather and calendar, so against a
    reference of weeks it looks drifted every day; a trailing week shows whether the data moved. Degraded days
    are left out: their missing input would read as drift on every day after them.
    """
    first = parse_day(day) - dt.timedelta(days=window_days - 1)
    candidates = [d for d in (f"{first + dt.timedelta(days=i):%Y-%m-%d}" for i in range(window_days - 1))
                  if after is None or d > after]
    scorer = (manifest["model_name"], manifest["model_version"])
    manifests = {d: scoring.read_manifest(d) or {} for d in candidates}
    return [*(d for d, m in manifests.items() if (m.get("model_name"), m.get("model_version")) == scorer
              and not m.get("degraded")), day]


def read_figures(day: str) -> dict | None:
    path = figures_path(day)
    return json.loads(path.read_text()) if path.exists() else None


def recent_days(day: str, count: int = 30) -> list[str]:
    done = sorted(storage.partition_mtimes(storage.location("monitoring")))
    return [d for d in done if d < day][-count:]


def publish_report(day: str, write) -> str:
    """Write the day's report with `write(path)` and publish it at reports/drift/dt=<day>/report.html."""
    dest = storage.location(f"reports/drift/dt={day}/report.html")
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "report.html"
        write(local)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(local.read_bytes())
    return str(dest)


def log_to_mlflow(figures: dict) -> str:
    """One run per monitored day in the monitoring experiment, tagged with the model version it judges (or not)."""
    import mlflow

    from contrail.registry import tracking

    experiment_id = tracking.configure(EXPERIMENT)
    metrics = {}
    if figures["judged"]:
        metrics = {"max_psi": figures["max_psi"], "prediction_psi": figures["prediction_psi"], "drifted_features": len(figures["drifted"]),
                   "days_after_window": figures["days_after_window"], **{f"psi_{name}": v for name, v in figures["psi"].items()}}
    if figures["performance"]:
        metrics.update(roc_auc=figures["performance"]["roc_auc"], log_loss=figures["performance"]["log_loss"])
    if figures["decay"]:
        metrics["roc_auc_decay"] = figures["decay"]["decay"]
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"drift {figures['dt']}") as run:
        mlflow.set_tags({"contrail.dt": figures["dt"], "contrail.model": figures["model"], "contrail.verdict": figures["verdict"],
                         "contrail.model_version": figures["version"], "contrail.retrain": str(bool(figures["retrain_reasons"]))})
        if metrics:
            mlflow.log_metrics(metrics)
        mlflow.log_text(storage.location(f"reports/drift/dt={figures['dt']}/report.html").read_text(), "drift_report.html")
    if figures["judged"]:
        tracking.client().set_model_version_tag(figures["model"], figures["version"], "contrail.last_monitored",
                                                f"{figures['dt']} max_psi={figures['max_psi']:.3f}")
    return run.info.run_id
