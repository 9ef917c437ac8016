"""Contrail batch inference: score each day's quality-checked features with the champion model in Spark."""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from contrail import datasets
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
                                      description="score with today's champion, not the model that first scored each day"),
    },
)
def contrail_inference():
    """
    ### Batch scoring with the champion
    **resolve_days**: on new features or a new champion, every day whose features passed quality
    and are newer than its predictions; by hand, params `start`/`end` (each must have passed
    quality). **score**: `spark_jobs/score_features.py` (`mlflow.pyfunc.spark_udf`, Arrow
    batches) writes `predictions/dt=YYYY-MM-DD/` by dynamic partition overwrite, every row naming
    `model_name` and `model_version`, checked row for row against the features. A day is scored by
    the model recorded in `scoring/dt=…/model.json` when it has one (a re-run reproduces the
    nightly result) unless `use_current_champion`; otherwise by the current `champion`. Skipped,
    saying why, while no model is champion.
    """

    @task
    def resolve_days(*, params) -> list[str]:
        from contrail.runs import days_or_stale
        from contrail.scoring import stale_days

        return days_or_stale(params, stale_days, "every day with usable features has up-to-date predictions")

    @task(outlets=[PREDICTIONS])
    def score(days: list[str], *, params, outlet_events) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from contrail import scoring

        try:
            result = scoring.score(days, use_current_champion=bool(params.get("use_current_champion")))
        except scoring.NoChampion as exc:
            raise AirflowSkipException(str(exc)) from None
        outlet_events[PREDICTIONS].extra = {"days": sorted(result), "scored": result}
        return result

    score(resolve_days())


contrail_inference()
