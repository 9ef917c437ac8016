"""What the DAG-run tests of every profile check the same way. Test code, not product code."""

from __future__ import annotations


def states(run) -> dict[str, str]:
    """task id -> state of a DagRun's task instances."""
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def assert_features_published(run, days: list[str]) -> None:
    """The features run wrote each day's partition from most of its flights (read back from the lake, wherever
    it is), and its asset event carries the days' counts and the run's estimated cost."""
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from contrail import storage
    from sqlalchemy import select

    for day in days:
        features = storage.parquet_rows(storage.location(f"features/dt={day}"))
        raw = storage.parquet_rows(storage.location(f"raw/flights/dt={day}"))
        assert 0.9 * raw < features <= raw, (day, features, raw)
    with create_session() as session:
        event = session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == run.run_id,
                                                         AssetEvent.source_task_id == "publish_features")).one()
    assert sorted(event.extra["counts"]) == days and event.extra["cost_usd"] > 0


def assert_spark_job_failed_and_torn_down(run) -> None:
    """The run failed at the job's wait, the teardown still ran, and nothing downstream ran on its output."""
    assert run.state == "failed"
    got = states(run)
    assert got["build_features.await_job"] == "failed" and got["build_features.stop_cluster"] == "success"
    assert got["check_features"] == "upstream_failed"


def champion(model: str):
    """The MLflow model version holding the model's champion alias."""
    from contrail.registry import promotion, tracking

    client = tracking.client()
    return client.get_model_version(model, promotion.alias_version(client, model, "champion"))


def run_try(operator, request):
    """One try of a CloudOperator task, deferred to its trigger and resumed as the triggerer and a worker would."""
    from airflow.providers.common.compat.sdk import TaskDeferred
    from aws_twin import TryContext
    from gcp_binding import run_trigger

    operator = operator.prepare_for_execution()
    operator.request = request
    context = TryContext(operator.task_id, operator.dag_id)
    try:
        return operator.execute(context)
    except TaskDeferred as deferred:
        kwargs = {**(deferred.kwargs or {}), "event": run_trigger(deferred.trigger)}
        return operator.resume_execution(deferred.method_name, kwargs, context)
