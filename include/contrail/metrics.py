"""The pipeline's own metrics, sent through Airflow's metrics backend beside Airflow's own (StatsD or
OpenTelemetry, as the [metrics] section says: AIRFLOW__METRICS__STATSD_ON=True, STATSD_HOST, STATSD_PORT).

Every name is below `contrail.` (after Airflow's prefix, `airflow.` by default) and listed in METRICS,
which deploy/grafana/contrail.json charts (tests/test_metrics.py checks that they agree). A metric is
sent only from a task process, where Airflow has set its backend up; with metrics off it costs
nothing, and a failure to send never fails a task.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

PREFIX = "contrail"
TABLES = ("flights", "weather", "features")
# name -> what it measures (a gauge: the latest value wins)
METRICS = {
    **{f"quality.{t}.{what}": f"rows of the day's {t} that {label}" for t in TABLES
       for what, label in (("rows_in", "the gate read"), ("rows_passed", "passed"),
                           ("rows_quarantined", "were quarantined"))},
    **{f"quality.{t}.failed": f"1 when the day's {t} gate failed, else 0" for t in TABLES},
    "drift.max_psi": "largest feature PSI of the monitored day's trailing window against the training window",
    "drift.prediction_psi": "PSI of the predictions against the training window's",
    "drift.retrain_requested": "1 when monitoring asked for retraining, else 0",
    "model.roc_auc": "realised ROC AUC of the scoring model on the monitored day",
    "model.holdout_roc_auc": "holdout ROC AUC of the model just trained",
    "cost.estimate_usd": "estimated cost of a planned cloud step (0 on the local profile)",
}


def gauge(name: str, value: float) -> None:
    """Send `contrail.<name>`; `name` must be one of METRICS."""
    if name not in METRICS:
        raise KeyError(f"unknown metric {name!r}: add it to contrail.metrics.METRICS (and the Grafana dashboard)")
    try:
        from airflow.sdk.observability import stats

        stats.gauge(f"{PREFIX}.{name}", float(value))
    except Exception as exc:  # metrics are an observer: never a reason for a task to fail
        log.warning("metric %s not sent: %s", name, exc)


def quality(verdict: dict) -> None:
    table = verdict.get("table")
    if table not in TABLES:
        return
    for what in ("rows_in", "rows_passed", "rows_quarantined"):
        gauge(f"quality.{table}.{what}", verdict.get(what) or 0)
    gauge(f"quality.{table}.failed", verdict.get("status") == "failed")


def drift(figures: dict) -> None:
    gauge("drift.retrain_requested", bool(figures.get("retrain_reasons")))
    if figures.get("judged") is False:  # a day of the model's own window: no drift figure to show
        return
    gauge("drift.max_psi", figures["max_psi"])
    gauge("drift.prediction_psi", figures["prediction_psi"])
    if figures.get("performance"):
        gauge("model.roc_auc", figures["performance"]["roc_auc"])
