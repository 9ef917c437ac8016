"""The cockpit plugin in Airflow's own api-server app: the run report, the lake's reports, the task links, login."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from contrail import scoring, storage
from contrail.monitoring import monitor
from contrail.quality import ledger

DAY = "2099-02-01"  # a day no other test writes
REPORTS = f"reports/cockpit-test/dt={DAY}"


@pytest.fixture(scope="module")
def api(dagbag, tmp_path_factory):
    """Airflow's api-server app (auth manager, plugins and all) with login required, as in the production
    shape: one viewer in the simple auth manager's users file, and that viewer's token."""
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    passwords = tmp_path_factory.mktemp("auth") / "passwords.json"
    passwords.write_text(json.dumps({"viewer": "a-long-test-password"}))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
        env.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "viewer:viewer")
        env.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords))
        client = TestClient(create_app("all"))
        login = client.post("/auth/token", json={"username": "viewer", "password": "a-long-test-password"})
        assert login.status_code == 201, login.text
        client.cookies.clear()  # only the bearer token below, never a session cookie, identifies the caller
        yield client, {"Authorization": f"Bearer {login.json()['access_token']}"}


@pytest.fixture
def features_run(unpaused, monkeypatch):
    """A finished contrail_features run that published the features of DAY (and the lake files it left)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType
    from sqlalchemy import select

    monkeypatch.setenv("CONTRAIL_MLFLOW_UI_URL", "http://mlflow.test:5000")
    # never under reports/quality/docs/: Great Expectations' index builder reads every file there as its own
    docs = storage.location(f"{REPORTS}/quality/flights.html")
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text("<html>the Data Docs of the flights gate</html>")
    drift = storage.location(f"{REPORTS}/drift/report.html")
    drift.parent.mkdir(parents=True, exist_ok=True)
    drift.write_text("<html>drift of the day</html>")
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    ledger.write_verdict({"table": "flights", "dt": DAY, "status": "passed", "validated_at": now, "rows_in": 950,
                          "rows_quarantined": 7, "critical": [], "warnings": ["3 rows without a tail number"],
                          "docs": str(docs)})
    ledger.write_verdict({"table": "features", "dt": DAY, "status": "failed", "validated_at": now, "rows_in": 943,
                          "rows_quarantined": 0, "critical": ["dep_delay_minutes within bounds"], "warnings": []})
    manifest = scoring.manifest_path(DAY)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"dt": DAY, "model_name": "flights_delay", "model_version": "4", "rows": 943}))
    figures = monitor.figures_path(DAY)
    figures.parent.mkdir(parents=True, exist_ok=True)
    figures.write_text(json.dumps({"dt": DAY, "max_psi": 0.31, "max_psi_feature": "dep_hour", "prediction_psi": 0.12,
                                   "performance": {"roc_auc": 0.6712}, "retrain_reasons": ["ROC AUC decayed by 0.06"],
                                   "report": str(drift)}))
    run_id = f"manual__{uuid.uuid4().hex[:8]}"
    with unpaused("contrail_features"), create_session() as session:
        when = dt.datetime.now(dt.timezone.utc)
        session.add(DagRun(dag_id="contrail_features", run_id=run_id, run_type=DagRunType.MANUAL,
                           state=DagRunState.SUCCESS, run_after=when, logical_date=None))
        asset = session.scalar(select(AssetModel).where(AssetModel.name == "features"))
        session.add(AssetEvent(asset_id=asset.id, source_dag_id="contrail_features", source_run_id=run_id,
                               source_task_id="publish_features", source_map_index=-1,
                               extra={"days": [DAY], "cost_usd": 0.37}))
    return run_id


def test_the_run_report_shows_each_day_and_links_every_report(api, features_run):
    client, auth = api
    page = client.get(f"/contrail/run/contrail_features/{features_run}", headers=auth)
    assert page.status_code == 200, page.text
    text = page.text
    assert f"Days: {DAY}" in text and "Estimated cost: $0.37" in text and "Published: features" in text
    assert "passed</span> 950 in, 7 quarantined" in text and "3 rows without a tail number" in text
    assert "failed</span> 943 in" in text and "dep_delay_minutes within bounds" in text
    assert "flights_delay v4 (943 rows)" in text
    assert "max PSI 0.310 (dep_hour), prediction PSI 0.120, ROC AUC 0.6712" in text and "ROC AUC decayed by 0.06" in text

    # the reports open from the page, served from the lake through the api-server, not as file:// links
    docs = f"/contrail/lake/reports/cockpit-test/dt%3D{DAY}/quality/flights.html"
    drift = f"/contrail/lake/reports/cockpit-test/dt%3D{DAY}/drift/report.html"
    assert f'href="http://127.0.0.1:8080{docs}"' in text and f'href="http://127.0.0.1:8080{drift}"' in text
    assert "file://" not in text
    served = client.get(docs, headers=auth)
    assert served.status_code == 200 and served.text == "<html>the Data Docs of the flights gate</html>"
    assert served.headers["content-type"].startswith("text/html")
    assert client.get(drift, headers=auth).text == "<html>drift of the day</html>"


def test_the_reports_need_a_login_and_only_reports_are_served(api, features_run):
    client, auth = api
    assert client.get(f"/contrail/run/contrail_features/{features_run}").status_code == 401
    assert client.get("/contrail/lake/reports/drift/index.html").status_code == 401
    assert client.get(f"/contrail/lake/quality/flights/dt={DAY}/verdict.json", headers=auth).status_code == 404
    assert client.get("/contrail/lake/reports/../quality/x.json", headers=auth).status_code == 404
    missing = client.get("/contrail/run/contrail_features/no-such-run", headers=auth)
    assert missing.status_code == 404 and "no run 'no-such-run'" in missing.text


def test_each_task_links_what_it_made(features_run, monkeypatch):
    from contrail import cockpit

    monkeypatch.setenv("CONTRAIL_MLFLOW_UI_URL", "http://mlflow.test:5000")
    quality = cockpit.task_link("quality", "check_raw", [DAY])
    assert quality == f"http://127.0.0.1:8080/contrail/lake/reports/cockpit-test/dt%3D{DAY}/quality/flights.html"
    assert cockpit.task_link("quality", "publish_features", [DAY]) is None
    assert cockpit.task_link("drift", "monitor", [json.loads(monitor.figures_path(DAY).read_text())]).endswith(
        f"/contrail/lake/reports/cockpit-test/dt%3D{DAY}/drift/report.html")
    assert cockpit.task_link("model", "promote", {"model": "flights_delay", "version": "4"}) == \
        "http://mlflow.test:5000/#/models/flights_delay/versions/4"
    assert cockpit.task_link("model", "resolve_window", {"version": "4"}) is None
    assert cockpit.run_report_url("contrail_features", features_run) == \
        f"http://127.0.0.1:8080/contrail/run/contrail_features/{features_run}"


def test_the_plugin_is_loaded_with_its_links_and_run_view():
    from airflow import plugins_manager

    names = {link.name for link in plugins_manager.get_global_operator_extra_links()}
    assert {"Run report", "Quality report", "Drift report", "MLflow run", "Model version"} <= names
    views = plugins_manager._get_ui_plugins()[0]
    assert {"name": "Contrail report", "href": "/contrail/run/{DAG_ID}/{RUN_ID}", "destination": "dag_run",
            "url_route": "contrail-report"} in views
