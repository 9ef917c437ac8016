"""The Airflow UI as Contrail's cockpit: a report page per DAG run and one-click links from each task.

* ``fastapi_apps``: ``contrail.cockpit_pages.app()`` at ``/contrail`` in the api-server (the run
  report, and the lake's report files read through the path layer, never ``file://`` links);
  every page asks for a logged-in user who may read the DAG's runs (the auth manager decides).
* ``external_views``: *Contrail report* on every DAG run page.
* ``global_operator_extra_links``: on a task's Details tab, *Run report* always, and where the task
  made one *Quality report* (a gate's Data Docs), *Drift report*, *MLflow run* and *Model
  version* (``CONTRAIL_MLFLOW_UI_URL``, the MLflow UI that ``make ui`` serves). A task says what
  it made by its return value; the other links stay hidden (Airflow hides a link without a URL).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from airflow.sdk import BaseOperatorLink


def _return_value(ti_key):
    """The task instance's return value, read from the metadata database (links resolve in the api-server)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(XComModel.get_many(run_id=ti_key.run_id, key="return_value", dag_ids=ti_key.dag_id,
                                                 task_ids=ti_key.task_id, map_indexes=ti_key.map_index)).first()
        return XComModel.deserialize_value(row) if row is not None else None


class _TaskLink(BaseOperatorLink):
    kind = ""

    def get_link(self, operator, *, ti_key) -> str:
        from contrail import cockpit

        try:
            return cockpit.task_link(self.kind, ti_key.task_id, _return_value(ti_key)) or ""
        except Exception:  # a link must never break the task page; the run report says more
            return ""


class QualityReportLink(_TaskLink):
    name, kind = "Quality report", "quality"


class DriftReportLink(_TaskLink):
    name, kind = "Drift report", "drift"


class MlflowRunLink(_TaskLink):
    name, kind = "MLflow run", "mlflow"


class ModelVersionLink(_TaskLink):
    name, kind = "Model version", "model"


class RunReportLink(BaseOperatorLink):
    name = "Run report"

    def get_link(self, operator, *, ti_key) -> str:
        from contrail import cockpit

        return cockpit.run_report_url(ti_key.dag_id, ti_key.run_id)


class LazyApp:
    """An ASGI app that builds the FastAPI app on its first request: every task start loads the plugins
    (for their macros), and importing FastAPI there would cost each task about a second."""

    def __init__(self):
        self._app = None

    async def __call__(self, scope, receive, send):
        if self._app is None:
            from contrail.cockpit_pages import app

            self._app = app()
        await self._app(scope, receive, send)


class ContrailCockpit(AirflowPlugin):
    name = "contrail_cockpit"
    fastapi_apps = [{"app": LazyApp(), "url_prefix": "/contrail", "name": "Contrail reports"}]
    external_views = [{"name": "Contrail report", "href": "/contrail/run/{DAG_ID}/{RUN_ID}", "destination": "dag_run",
                       "url_route": "contrail-report"}]
    global_operator_extra_links = [RunReportLink(), QualityReportLink(), DriftReportLink(), MlflowRunLink(),
                                   ModelVersionLink()]
