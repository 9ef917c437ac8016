"""Alarm thresholds calibrated on the training window's own noise, the rule that applies them, and the settings.

A day's PSI against a reference of weeks is large on this data whatever happens (one day holds one
day's weather, hours and carriers): a fixed 0.2 says "drift" on most days. So the training job
measures each statistic that can ask for retraining where nothing can have drifted, inside its own
window, and the alarm threshold is a high quantile of that noise (CONTRAIL_ALARM_QUANTILE, default
0.95):

* PSI of each judged feature and of the prediction: every run of k consecutive window days
  (k = 1 .. the monitor's trailing days) against the rest of the window, in the reference's bins,
  so a threshold exists for each number of trailing days monitoring may compare (fewer days, more
  noise). The predictions are out of fold (`model.out_of_fold`: each day predicted by a model that
  never saw it), as a scored day's are: a model's predictions on its own training rows are sharper;
* ROC AUC decay below the holdout figure, judged on the trailing days pooled (as drift is: one day's
  AUC on some 900 flights swings by several points): for k = 1 .. the trailing days, the larger of
  the quantile of the shortfall of k consecutive window days (pooled) from the window's pooled
  out-of-fold ROC AUC and that of bootstrap samples of k days' rows.

`alarms` is the one rule monitoring and the calibration both apply: half the judged features over
their thresholds (CONTRAIL_DRIFT_SHARE), the prediction PSI over its threshold, or the decay over its
threshold. A model version trained before calibration existed is judged by the fixed settings below.
The calibration also reports the share of its own window's days that the rule would flag
against the full reference (the target is under 5 %). Pure numpy/pandas: it runs in the training
job on every platform.
"""

from __future__ import annotations

import os

from contrail.monitoring import drift

DEFAULT_QUANTILE = 0.95
BOOTSTRAP_DRAWS = 200


def settings(environ: dict | None = None) -> dict:
    """Monitoring's settings (environment, defaults in brackets).

    CONTRAIL_DRIFT_SHARE [0.5]: the share of judged features past their thresholds that asks for retraining.
    CONTRAIL_DRIFT_WINDOW_DAYS [7]: drift of a day is measured on the trailing days (this many, ending at it,
    out of the model's window) scored by the same model; realised performance on the day alone.
    CONTRAIL_ALARM_QUANTILE [0.95]: the quantile of the window's own noise a calibrated threshold sits at.
    Fixed thresholds, only for model versions without a calibration: CONTRAIL_DRIFT_PSI [0.2] per feature,
    CONTRAIL_PREDICTION_PSI [0.2], CONTRAIL_DECAY_ROC_AUC [0.05] below the holdout ROC AUC.
    """
    env = (os.environ if environ is None else environ).get
    return {"psi": float(env("CONTRAIL_DRIFT_PSI", "0.2")), "drift_share": float(env("CONTRAIL_DRIFT_SHARE", "0.5")),
            "prediction_psi": float(env("CONTRAIL_PREDICTION_PSI", "0.2")),
            "decay": float(env("CONTRAIL_DECAY_ROC_AUC", "0.05")),
            "window_days": int(env("CONTRAIL_DRIFT_WINDOW_DAYS", "7")), "quantile": quantile_setting(environ)}


def fixed_limits(limits: dict, columns) -> dict:
    """The uncalibrated thresholds of `settings()` in the shape `limits_for` gives."""
    return {"psi": {c: limits["psi"] for c in columns}, "prediction_psi": limits["prediction_psi"], "decay": limits["decay"]}


def quantile_setting(environ: dict | None = None) -> float:
    environ = os.environ if environ is None else environ
    raw = environ.get("CONTRAIL_ALARM_QUANTILE") or str(DEFAULT_QUANTILE)
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.5 <= value < 1:
        from contrail.config import ConfigError

        raise ConfigError(f"CONTRAIL_ALARM_QUANTILE={raw!r}: give the quantile of the window's own noise that an alarm "
                          f"must exceed, a number from 0.5 up to (not including) 1 (default {DEFAULT_QUANTILE})")
    return value


def _quantile(values: list[float], q: float) -> float | None:
    import numpy as np

    return float(np.quantile(values, q)) if values else None


def _day_counts(profile: dict, frame, days: list[str], columns: list[str]):
    """Per column, the rows of each day in each of the profile's bins (numeric: its edges, then missing;
    categorical: the window's categories), as an array days x bins: a run's shares are sums of rows."""
    import numpy as np
    import pandas as pd

    day_index = pd.Categorical(frame["dt"], categories=days).codes
    out = {}
    for column in columns:
        spec = profile["columns"][column]
        if spec["kind"] == "numeric":
            values = frame[column].to_numpy(dtype=float, na_value=np.nan)
            bins = np.searchsorted(spec["edges"], values, side="right")
            bins[np.isnan(values)] = len(spec["edges"]) + 1
            width = len(spec["edges"]) + 2
        else:
            bins = pd.Categorical(drift.category_labels(frame[column]), categories=sorted(spec["counts"])).codes
            width = len(spec["counts"])
        counts = np.zeros((len(days), width))
        np.add.at(counts, (day_index, bins), 1)
        out[column] = counts
    return out


def _psi_runs(counts: dict, runs: list[tuple[int, int]], against_rest: bool = True) -> list[dict[str, float]]:
    """PSI per column of the days [a, b) of each run against the other days (or all days, as monitoring compares
    a scored day with the whole reference), in the profile's bins."""
    out = []
    for a, b in runs:
        figures = {}
        for column, per_day in counts.items():
            block, total = per_day[a:b].sum(axis=0), per_day.sum(axis=0)
            reference = total - block if against_rest else total
            figures[column] = drift.psi(reference / max(reference.sum(), 1), block / max(block.sum(), 1))
        out.append(figures)
    return out


def _leave_out(counts: dict, days: list[str], k: int) -> list[dict[str, float]]:
    """PSI of each run of k consecutive days against the rest of the days."""
    if len(days) <= k:
        return []
    return _psi_runs(counts, [(a, a + k) for a in range(len(days) - k + 1)])


def _auc(y, p) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if len(set(y)) == 2 else None


def decay_floor(window, q: float, seed: int = 0, max_days: int = 1) -> dict:
    """Quantiles of how far the ROC AUC of k consecutive days (pooled) falls below the window's pooled one, over every
    run of k window days and over bootstrap samples of k days' rows (out-of-fold predictions), for k = 1..max_days:
    `by_days[k]`; the top level holds k = 1."""
    import numpy as np

    pooled = _auc(window["label"].to_numpy(), window["prediction"].to_numpy())
    groups = [(g["label"].to_numpy(), g["prediction"].to_numpy()) for _, g in window.groupby("dt", sort=True)]
    rng = np.random.default_rng(seed)
    size = int(window.groupby("dt").size().median())
    y, p = window["label"].to_numpy(), window["prediction"].to_numpy()
    by_days = {}
    for k in range(1, max(1, min(max_days, len(groups) - 1)) + 1):
        runs = [(pooled - a) for i in range(len(groups) - k + 1)
                if (a := _auc(np.concatenate([g[0] for g in groups[i:i + k]]), np.concatenate([g[1] for g in groups[i:i + k]])))
                is not None]
        boot = [(pooled - a) for idx in (rng.integers(0, len(y), size * k) for _ in range(BOOTSTRAP_DRAWS))
                if (a := _auc(y[idx], p[idx])) is not None]
        runs_q, boot_q = _quantile(runs, q), _quantile(boot, q)
        by_days[str(k)] = {"threshold": max(v for v in (runs_q, boot_q, 0.0) if v is not None), "by_day": runs_q,
                           "bootstrap": boot_q, "runs": len(runs), "draws": len(boot)}
    return {**by_days["1"], "by_days": by_days, "pooled_roc_auc": pooled, "days": by_days["1"]["runs"]}


def calibrate(profile: dict, window, judged: list[str], *, q: float, max_days: int) -> dict:
    """Thresholds per number of trailing days (1..max_days) for the `judged` features and the prediction, from the
    window's rows (`dt`, features, out-of-fold `prediction`, `label`) in `profile`'s bins, at quantile `q`."""
    days = sorted(window["dt"].unique())
    counts = _day_counts(profile, window, days, [*judged, "prediction"])
    by_days = {}
    for k in range(1, min(max_days, len(days) - 1) + 1):
        runs = _leave_out(counts, days, k)
        by_days[str(k)] = {"psi": {c: _quantile([r[c] for r in runs], q) for c in judged},
                           "prediction_psi": _quantile([r["prediction"] for r in runs], q), "runs": len(runs)}
    calibration = {"quantile": q, "by_days": by_days, "judged": list(judged), "max_days": max(map(int, by_days), default=0)}
    if "label" in window.columns:
        calibration["decay"] = decay_floor(window, q, max_days=max_days)
    return calibration


def limits_for(calibration: dict, days: int) -> dict:
    """The thresholds for a comparison over `days` trailing days (beyond the calibrated range: the largest)."""
    by_days = calibration["by_days"]
    key = str(min(max(days, 1), calibration["max_days"]))
    decay = calibration.get("decay") or {}
    decay_days = decay.get("by_days") or {}  # a calibration from before decay was judged over trailing days: one day's
    decay_key = str(min(max(days, 1), max(map(int, decay_days), default=1)))
    return {**by_days[key], "decay": (decay_days.get(decay_key) or decay).get("threshold")}


def alarms(result: dict, limits: dict, drift_share: float, perf_auc: float | None = None,
           reference_auc: float | None = None, days: int = 1) -> list[str]:
    """Why these drift figures ask for retraining under calibrated `limits` (empty: they do not); `perf_auc` is the
    realised ROC AUC over the `days` trailing days the drift was measured on."""
    reasons = []
    over = f" over {days} days" if days > 1 else ""
    psi_limits = {c: t for c, t in limits["psi"].items() if t is not None and c in result}
    drifted = drifted_features(result, limits)
    if psi_limits and len(drifted) / len(psi_limits) >= drift_share:
        reasons.append(f"{len(drifted)} of {len(psi_limits)} features drifted (PSI above their thresholds): "
                       + ", ".join(f"{c} {result[c]['psi']:.3f} > {psi_limits[c]:.3f}" for c in drifted))
    limit = limits.get("prediction_psi")
    if limit is not None and "prediction" in result and result["prediction"]["psi"] >= limit:
        reasons.append(f"prediction distribution drifted: PSI {result['prediction']['psi']:.3f} >= {limit:.3f}")
    limit = limits.get("decay")
    if limit is not None and perf_auc is not None and reference_auc is not None and reference_auc - perf_auc >= limit:
        reasons.append(f"ROC AUC{over} decayed {reference_auc:.4f} -> {perf_auc:.4f} (by {limit:.4f} or more)")
    return reasons


def drifted_features(result: dict, limits: dict) -> list[str]:
    """The judged features whose PSI is above their threshold (a feature constant through the window has a threshold
    of 0, and drifts only once it varies)."""
    return sorted(c for c, t in limits["psi"].items() if t is not None and c in result and result[c]["psi"] > t)


def in_window_alarm_share(profile: dict, window, calibration: dict, drift_share: float, days_per_check: int) -> dict:
    """How many of the window's own days the rule would flag against the full reference, each over its trailing
    days as monitoring compares a scored day (the target is under 5 %)."""
    days = sorted(window["dt"].unique())
    runs = [(max(0, i - days_per_check + 1), i + 1) for i in range(len(days))]
    figures = _psi_runs(_day_counts(profile, window, days, [*calibration["judged"], "prediction"]), runs, against_rest=False)
    flagged = [days[b - 1] for (a, b), f in zip(runs, figures)
               if alarms({c: {"psi": v} for c, v in f.items()}, limits_for(calibration, b - a), drift_share)]
    return {"days": len(days), "flagged": flagged, "share": len(flagged) / len(days) if days else 0.0}


def reference_profile(window, numeric, categorical, ignore, limits: dict | None = None) -> dict:
    """The training reference monitoring compares scored days with: the window's features and out-of-fold
    predictions, and the calibration (thresholds, their noise, the in-window alarm share)."""
    limits = settings() if limits is None else limits
    numeric, categorical = list(numeric), list(categorical)
    profile = drift.reference_profile(window, [*numeric, "prediction"], categorical)
    judged = [c for c in [*numeric, *categorical] if c not in set(ignore)]
    calibration = calibrate(profile, window, judged, q=limits["quantile"], max_days=limits["window_days"])
    calibration["in_window"] = in_window_alarm_share(profile, window, calibration, limits["drift_share"], limits["window_days"])
    profile["calibration"] = calibration
    return profile
