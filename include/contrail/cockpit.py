"""The Contrail pages of the Airflow UI, served by the api-server (plugin `contrail_cockpit`).

    /contrail/run/{dag_id}/{run_id}   a DAG run's report: its days' quality verdicts and quarantine
                                      counts, features, the model that scored them, drift and realised
                                      performance with links to the drift reports and MLflow runs,
                                      champion against challenger with the gate's reasons, the cost
                                      estimate and the lineage of inputs (the asset events consumed)
    /contrail/lake/reports/...        the lake's report files (Great Expectations Data Docs, drift
                                      reports), read through the path layer: local, S3, GCS or Blob

The days of a run come from Airflow's metadata: the asset events it produced and consumed carry
them (`days` or `dt`), and a scheduled or backfill run of contrail_ingest has its data day.
"""

from __future__ import annotations

import mimetypes
import os
from urllib.parse import quote

PREFIX = "/contrail"
SERVED = ("reports/",)  # the lake folders the UI may read: report files only, never data
MODEL_TASKS = ("promote", "train.register")


def base_url() -> str:
    return os.environ.get("AIRFLOW__API__BASE_URL", "http://127.0.0.1:8080").rstrip("/")


def mlflow_ui() -> str | None:
    return (os.environ.get("CONTRAIL_MLFLOW_UI_URL") or "").rstrip("/") or None


def run_report_url(dag_id: str, run_id: str) -> str:
    return f"{base_url()}{PREFIX}/run/{quote(dag_id, safe='')}/{quote(run_id, safe='')}"


def lake_url(uri: str | None) -> str | None:
    """The UI address of a lake report file given by its URI (as verdicts and figures record it)."""
    from contrail import config

    if not uri:
        return None
    root = str(config.profile().data_root).rstrip("/") + "/"
    if uri.startswith("/"):
        uri = "file://" + uri
    if not uri.startswith(root):
        return None
    relative = uri[len(root):]
    return f"{base_url()}{PREFIX}/lake/{quote(relative)}" if relative.startswith(SERVED) else None


def read_report(relative: str) -> tuple[bytes, str]:
    """A report file of the lake and its media type; LookupError for anything else or anything missing."""
    from contrail import inputs, storage

    try:
        path = storage.location(inputs.relative(relative, "report path", under=SERVED))
    except inputs.BadInput as exc:
        raise LookupError(f"{exc} (only the lake's {', '.join(SERVED)} are served)") from None
    if not path.is_file():
        raise LookupError(f"no report {relative!r} in the lake")
    return path.read_bytes(), mimetypes.guess_type(relative)[0] or "application/octet-stream"


def mlflow_run_url(run_id: str | None) -> str | None:
    ui = mlflow_ui()
    if not (ui and run_id):
        return None
    from contrail.registry import tracking

    experiment = tracking.client().get_run(run_id).info.experiment_id
    return f"{ui}/#/experiments/{experiment}/runs/{run_id}"


def model_version_url(model: str | None, version: str | None) -> str | None:
    ui = mlflow_ui()
    return f"{ui}/#/models/{quote(model)}/versions/{version}" if ui and model and version else None


def task_link(kind: str, task_id: str, value) -> str | None:
    """The address an extra link of `kind` opens for a task whose return value is `value`, or None.

    The tasks say what they made by what they return: a gate its days, monitoring its figures (with
    their report and MLflow run), training and promotion the model version (and its MLflow run)."""
    from contrail.quality import ledger

    days = value if isinstance(value, list) and all(isinstance(v, str) for v in value) else []
    figures = [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
    model = value if isinstance(value, dict) and value.get("version") else None
    if kind == "quality" and days and task_id.startswith("check_"):
        table = "features" if task_id == "check_features" else "flights"
        return lake_url((ledger.read_verdict(table, days[0]) or {}).get("docs"))
    if kind == "drift" and figures:
        return lake_url(figures[0].get("report"))
    if kind == "mlflow":
        if figures:
            return mlflow_run_url(figures[0].get("mlflow_run_id"))
        return mlflow_run_url(model.get("run_id")) if model else None
    if kind == "model" and model and task_id in MODEL_TASKS:
        return model_version_url(model.get("model"), model.get("version"))
    return None


def _named_days(extra: dict) -> list[str]:
    days = extra.get("days") if isinstance(extra.get("days"), list) else []
    return [str(d) for d in days or ([extra["dt"]] if extra.get("dt") else [])]


def run_facts(dag_id: str, run_id: str) -> dict:
    """From Airflow's metadata: the run's state, its days, the events it consumed and produced (with their extras)."""
    from airflow.models.asset import AssetEvent
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from contrail.dates import data_date, parse_day

    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        if run is None:
            raise LookupError(f"no run {run_id!r} of DAG {dag_id!r}")
        produced = session.scalars(select(AssetEvent).where(AssetEvent.source_dag_id == dag_id,
                                                            AssetEvent.source_run_id == run_id)).all()
        consumed = list(run.consumed_asset_events)
        events = [(e.asset.name, dict(e.extra or {}), e.source_dag_id, e.source_run_id) for e in (*produced, *consumed)]
        facts = {"dag_id": dag_id, "run_id": run_id, "state": str(run.state), "run_type": str(run.run_type),
                 "produced": events[:len(produced)], "consumed": events[len(produced):]}
        logical = run.logical_date if dag_id == "contrail_ingest" else None
    days = set()  # anyone who may post asset events writes extras: only real dates become lake paths
    for day in sorted({d for _, extra, _, _ in events for d in _named_days(extra)}):
        try:
            days.add(f"{parse_day(day, 'day of an asset event'):%Y-%m-%d}")
        except ValueError as exc:
            facts.setdefault("refused", []).append(str(exc))
    if logical is not None and not days:
        days.add(f"{data_date(logical):%Y-%m-%d}")
    facts["days"] = sorted(days)
    facts["cost_usd"] = sum(e[1].get("cost_usd") or 0 for e in facts["produced"])
    return facts
