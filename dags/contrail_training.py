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
        "min_days": Param(7, type="integer", minimum=3, description="manual window: fewest usable days to train on"),
    },
)
def contrail_training():
    """
    ### Train, track and promote the flight delay model
    1. **resolve_window**: the days to learn from. By hand: params `start`/`end`; every day must
       have features that passed quality, or the run fails naming the days. Scheduled (asset
       `features`, or `retrain_request` from `contrail_monitoring` or from this DAG's
       **schedule_next**): whatever woke the run, the next training the retraining policy has
       due (`contrail/training/schedule.py`): the first window of `CONTRAIL_MIN_WINDOW_DAYS` usable
       days, then a day when the model is `CONTRAIL_RETRAIN_MAX_AGE_DAYS` data days old, or when
       the day's final monitoring alarmed past `CONTRAIL_RETRAIN_COOLDOWN_DAYS`; it learns from
       the usable days of the `CONTRAIL_WINDOW_DAYS` calendar days ending on that data date. A
       function of the data, never of when events arrived: a backfill reproduces the nightly
       models. Skipped, saying why, while nothing is due. On features of a labelled-data drop
       (`contrail_landing`): the window ending on the drop's latest day, at once. The days split
       by time: train / validation / holdout (the latest ~15 %).
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
    5. **schedule_next**: when the policy has the next training due already (a backfill's
       backlog, or the refused model left the history unchanged), asset `retrain_request` wakes
       the next run; otherwise skipped, saying why.

    MLflow: `MLFLOW_TRACKING_URI` (default: the embedded PostgreSQL); model `CONTRAIL_MODEL_NAME` (default `flights_delay`). Rollback: DAG `contrail_model_rollback`.
    """

    @task
    def resolve_window(*, params, triggering_asset_events=None) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from contrail.runs import event_extras
        from contrail.training import tasks

        for request in event_extras(triggering_asset_events, RETRAIN):
            print(f"woken by a retraining request for {request.get('dt')}: {request.get('reason') or '; '.join(request.get('reasons', []))}")
        drops = [d for e in event_extras(triggering_asset_events, FEATURES) if e.get("retrain") for d in e.get("days", [])]
        if drops:
            print(f"retraining requested by a labelled-data drop: features of {', '.join(drops)}")
        try:
            return tasks.resolve_window(params, tasks.model_name(), drop_days=drops)
        except tasks.Skip as exc:
            raise AirflowSkipException(str(exc)) from None

    @task(outlets=[RETRAIN], trigger_rule="none_failed_min_one_success")
    def schedule_next(split: dict, *, outlet_events) -> dict:
        """Wake the next run when the policy has another training due already (a backfill's backlog)."""
        from airflow.sdk.exceptions import AirflowSkipException

        from contrail.training import policy, tasks

        due, why = policy.next_training(tasks.model_name())
        if due is None or due.day == split.get("due"):
            raise AirflowSkipException(why if due is None else f"{due.day} is still undecided")
        outlet_events[RETRAIN].extra = {"dt": due.day, "reason": due.reason, "source": "schedule"}
        return outlet_events[RETRAIN].extra

    split = resolve_window()
    candidate = platforms.training_step(split)
    promote = ModelPromotionOperator(task_id="promote", candidate=candidate, outlets=[MODEL])
    promote >> schedule_next(split)
    platforms.mirror_step(candidate, promote)

contrail_training()
