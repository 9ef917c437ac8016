"""Contrail monitoring: drift and realised performance of each scored day; asks for retraining when they cross thresholds."""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from contrail import datasets
from contrail.dag_defaults import dag_kwargs

PREDICTIONS = datasets.asset(datasets.PREDICTIONS)
RETRAIN = datasets.asset(datasets.RETRAIN_REQUEST)


@dag(
    dag_id="contrail_monitoring",
    schedule=[PREDICTIONS],
    **dag_kwargs("monitoring", "drift", "mlflow"),
    params={
        "start": Param(None, type=["null", "string"], format="date", description="first scored day to (re)monitor by hand"),
        "end": Param(None, type=["null", "string"], format="date", description="last day, inclusive (default: start)"),
    },
)
def contrail_monitoring():
    """
    ### Drift and decay monitoring, and drift-triggered retraining
    **monitor**: for each newly scored day after the scoring model's window (a day inside it is
    "in window, not judged"), the features and the predictions against the training reference of
    the model that scored them (`reference_profile.json` of its MLflow run): PSI for every feature,
    KS (numeric) or chi-square (categorical); with the day's labels, realised ROC AUC and log loss
    and their decay from the holdout figures. Per day: `monitoring/dt=…/figures.json`, an HTML
    report `reports/drift/dt=…/report.html` (distributions against the reference, PSI table with
    thresholds, performance over time; its address is in the task log) and a run in MLflow
    experiment `contrail-monitoring` tagged with the model version.

    **request_retraining**: when a day crosses the thresholds its model's training calibrated on the
    window's own noise (`CONTRAIL_ALARM_QUANTILE`, `CONTRAIL_DRIFT_SHARE`), outside the cooldown
    (`CONTRAIL_RETRAIN_COOLDOWN_DAYS`, in data days) and with features that passed quality, emits
    asset `retrain_request` with the reasons: `contrail_training` is scheduled on it. Otherwise skipped,
    saying why.
    """

    @task
    def resolve_days(*, params) -> list[str]:
        from contrail.monitoring.monitor import stale_days
        from contrail.runs import days_or_stale

        return days_or_stale(params, stale_days, "every scored day is monitored already")

    @task
    def monitor(days: list[str]) -> list[dict]:
        from contrail.monitoring.monitor import monitor_day

        return [monitor_day(day) for day in days]

    @task(outlets=[RETRAIN])
    def request_retraining(figures: list[dict], *, outlet_events) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from contrail.monitoring import monitor, retrain

        chosen, held = retrain.choose(figures, monitor.thresholds()["cooldown_days"])
        for why in held:
            print(f"held back: {why}")
        if chosen is None:
            raise AirflowSkipException("no day asks for retraining" + (f" ({len(held)} held back)" if held else ""))
        request = retrain.record(chosen)
        outlet_events[RETRAIN].extra = request
        return request

    request_retraining(monitor(resolve_days()))


contrail_monitoring()
