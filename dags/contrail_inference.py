"""Contrail batch inference: score each day's quality-checked features with the champion model in Spark."""

from __future__ import annotations

from airflow.sdk import Param, chain, dag, task

from contrail import datasets, platforms
from contrail.dag_defaults import dag_kwargs

FEATURES = datasets.asset(datasets.FEATURES)
MODEL = datasets.asset(datasets.MODEL_CHAMPION)
PREDICTIONS = datasets.asset(datasets.PREDICTIONS)


@dag(
    dag_id="contrail_inference",
    schedule=(FEATURES | MODEL),
    **dag_kwargs("spark", "mlflow", "inference"),
    params={
        "start": Param(None, type=["null", "string"], format="date", description="first day to (re)score by hand"),
        "end": Param(None, type=["null", "string"], format="date", description="last day, inclusive (default: start)"),
        "use_current_champion": Param(False, type="boolean",
                                      description="score with today's champion, not the model the policy had made champion as of each day"),
    },
)
def contrail_inference():
    """
    ### Batch scoring with the champion
    1. **resolve_days**: on new features or a new champion, every day whose features passed
       quality and are newer than its predictions, or whose predictions are not by its model as
       of the day (a decision landed since); by hand, params `start`/`end` (each must have
       passed quality).
    2. **score_features** (the profile's Spark: locally the Spark Connect server, on AWS an EMR
       step, or SageMaker batch transform with `CONTRAIL_SCORING_ENGINE=batch`): `spark_jobs/score_features.py` (`mlflow.pyfunc.spark_udf`, Arrow batches) writes
       `predictions/dt=YYYY-MM-DD/` by dynamic partition overwrite, every row naming `model_name`
       and `model_version`. Its `plan` says which model scores which day: the one the retraining
       policy had made champion as of the day (`contrail/training/schedule.py`, from the promotion
       ledger: a backfill reproduces the nightly result), unless `use_current_champion`; skipped,
       saying why, while no model is champion.
    3. **record_scores**: reads the predictions back from the lake, checks them row for row
       against the features, writes each day's manifest and emits the `predictions` event.
    """

    @task
    def resolve_days(*, params) -> list[str]:
        from contrail.runs import days_or_stale
        from contrail.scoring import stale_days

        return days_or_stale(params, stale_days, "every day with usable features has up-to-date predictions")

    @task(outlets=[PREDICTIONS])
    def record_scores(days: list[str], *, outlet_events, ti) -> dict:
        from contrail import platforms, scoring

        collect = ti.xcom_pull(task_ids="score_features.plan", key="collect")
        if collect:  # a managed batch scorer answered into files: make them the days' predictions first
            platforms.module().collect_scores(collect)
        result = scoring.record(days)
        cost = ti.xcom_pull(task_ids="score_features.plan", key="cost") or {}
        outlet_events[PREDICTIONS].extra = {"days": sorted(result), "scored": result, "cost_usd": cost.get("usd")}
        return result

    days = resolve_days()
    chain(platforms.spark_step("score_features", days), record_scores(days))


contrail_inference()
