"""Contrail training: train a delay model on quality-checked features, track it in MLflow, promote it through the gate."""

from __future__ import annotations

from airflow.sdk import Param, dag, task
from contrail_plugins.operators import ModelPromotionOperator

from contrail import datasets, platforms
from contrail.dag_defaults import dag_kwargs

FEATURES = datasets.asset(datasets.FEATURES)
MODEL = datasets.asset(datasets.MODEL_CHAMPION)
RETRAIN = datasets.asset(datasets.RETRAIN_REQUEST)


@dag(
    dag_id="contrail_training",
    schedule=(FEATURES | RETRAIN),
    **dag_kwargs("training", "mlflow"),
    params={
        "start": Param(None, type=["null", "string"], format="date", description="first day of a manual window"),
        "end": Param(None, type=["null", "string"], format="date", description="last day of a manual window (inclusive)"),
        "tune": Param(False, type="boolean", description="search hyperparameters with Optuna"),
        "n_trials": Param(20, type="integer", minimum=1, description="tuning: trial budget"),
        "timeout_minutes": Param(10, type="number", exclusiveMinimum=0, description="tuning: time budget"),
        "window_days": Param(28, type="integer", minimum=3, description="scheduled runs: days in the window"),
        "min_days": Param(7, type="integer", minimum=3, description="fewest usable days to train on"),
        "min_new_days": Param(7, type="integer", minimum=1, description="scheduled runs: new days needed to retrain"),
    },
)
def contrail_training():
    """
    ### Train, track and promote the flight delay model
    1. **resolve_window**: the days to learn from. By hand: params `start`/`end`; every day must
       have features that passed quality, or the run fails naming the days. On new features
       (asset `features`): the usable days of the latest `window_days`-calendar-day window holding
       at least `min_days` of them (days that failed quality are left out and logged), skipped
       while no window holds `min_days` or fewer than
       `min_new_days` are newer than the last model's window. On a drift request (asset
       `retrain_request` from `contrail_monitoring`) or on features of a labelled-data drop
       (`contrail_landing`), one new day is enough. The days split by time:
       train / validation / holdout (the latest ~15 %).
    2. **train**: the training job (`contrail/training/job.py`: LightGBM in a scikit-learn
       pipeline) on the profile's platform: locally in the worker, optionally tuned with Optuna;
       on AWS a SageMaker training job, or a SageMaker tuning job over the same search space
       (`tune`, `n_trials`, `timeout_minutes`). Its `plan` names the job from the run and its
       window (a retry re-attaches) and estimates its cost. **train.register** logs what the job
       wrote into MLflow, the registry of record: params, holdout metrics (ROC AUC, PR AUC, log
       loss, Brier, precision/recall at the threshold chosen on validation), plots, the window,
       the partitions' digests and quality verdicts (`lineage.json`), the code version; the model
       is registered with its signature and an input example.
    3. **promote** (`ModelPromotionOperator`): challenger and champion scored on the same holdout;
       promoted to alias `champion` only through the gate (minimum ROC AUC, better than the
       champion, no metric or carrier/origin/month slice regressing beyond tolerance), under a
       lock. Refused: the task is skipped and the reasons are on the model version.
    4. **mirror_model**: the version mirrored into the cloud's registry (AWS: a SageMaker model
       package, Approved or Rejected as the gate decided); nothing to do locally.

    MLflow: `MLFLOW_TRACKING_URI` (default: the embedded PostgreSQL); model `CONTRAIL_MODEL_NAME` (default `flights_delay`). Rollback: DAG `contrail_model_rollback`.
    """

    @task
    def resolve_window(*, params, triggering_asset_events=None) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from contrail.runs import event_extras
        from contrail.training import tasks

        requests = event_extras(triggering_asset_events, RETRAIN)
        for request in requests:
            print(f"retraining requested by monitoring of {request.get('dt')}: {'; '.join(request.get('reasons', []))}")
        for drop in (e for e in event_extras(triggering_asset_events, FEATURES) if e.get("retrain")):
            requests.append(drop)
            print(f"retraining requested by a labelled-data drop: features of {', '.join(drop.get('days', []))}")
        try:
            return tasks.resolve_window({**params, "min_new_days": 1} if requests else params, tasks.model_name())
        except tasks.Skip as exc:
            raise AirflowSkipException(str(exc)) from None

    candidate = platforms.training_step(resolve_window())
    promote = ModelPromotionOperator(task_id="promote", candidate=candidate, outlets=[MODEL])
    platforms.mirror_step(candidate, promote)


contrail_training()
