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

    **request_retraining**: when the retraining policy (`contrail/training/schedule.py`) has a
    training due now (a day whose final monitoring crossed the thresholds its model's training
    calibrated on the window's own noise, `CONTRAIL_ALARM_QUANTILE`, `CONTRAIL_DRIFT_SHARE`, past
    the cooldown `CONTRAIL_RETRAIN_COOLDOWN_DAYS` in data days after the last training, with
    features that passed quality; or a model `CONTRAIL_RETRAIN_MAX_AGE_DAYS` old), emits asset
    `retrain_request` with the reasons: `contrail_training` is scheduled on it. Otherwise
    skipped, saying why.
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
        from contrail.training import policy
        from contrail.training.model import model_name

        for f in figures:
            if f.get("retrain_reasons"):
                print(f"{f['dt']} alarmed: {'; '.join(f['retrain_reasons'])}")
        due, why = policy.next_training(model_name())
        if due is None:
            raise AirflowSkipException(f"no training is due: {why}")
        request = retrain.record(due, monitor.read_figures(due.day) if due.reason.startswith("alarm") else None)
        outlet_events[RETRAIN].extra = request
        return request

    request_retraining(monitor(resolve_days()))


contrail_monitoring()
