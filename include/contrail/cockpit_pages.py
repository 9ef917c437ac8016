"""The HTML of the cockpit's run report, and the FastAPI app the plugin mounts under /contrail."""

from __future__ import annotations

import html

from contrail import cockpit

STYLE = """body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1f2933}table{border-collapse:collapse;margin:.5rem 0 1.5rem}
th,td{border:1px solid #cbd2d9;padding:.3rem .6rem;text-align:left;font-size:.9rem}th{background:#f0f4f8}
.failed{color:#b42318;font-weight:600}.passed{color:#027a48}.warning{color:#b54708}"""


def _e(value) -> str:
    return html.escape("-" if value is None else str(value))


def _a(url: str | None, text: str) -> str:
    return f'<a href="{html.escape(url)}" target="_blank">{_e(text)}</a>' if url else ""


def _verdict(table: str, day: str) -> str:
    from contrail.quality import ledger

    v = ledger.read_verdict(table, day)
    if v is None:
        return "-"
    detail = f"{v.get('rows_in', '-')} in, {v.get('rows_quarantined', 0)} quarantined"
    why = "; ".join(v.get("critical") or []) or "; ".join(v.get("warnings") or [])
    docs = _a(cockpit.lake_url(v.get("docs")), "Data Docs")
    return f'<span class="{_e(v["status"])}">{_e(v["status"])}</span> {detail} {docs}<br><small>{_e(why)}</small>'


def day_row(day: str) -> str:
    from contrail import scoring
    from contrail.monitoring.monitor import read_figures

    scored, figures = scoring.read_manifest(day), read_figures(day) or {}
    by = f"{scored['model_name']} v{scored['model_version']} ({scored['rows']} rows)" if scored else None
    perf = figures.get("performance") or {}
    if figures.get("degraded"):
        shown = f", realised ROC AUC {perf['roc_auc']:.4f}" if perf else ""
        drift = f"degraded, not judged ({_e('; '.join(figures['degraded']))}){shown}"
    elif figures.get("judged") is False:
        drift = f"in window, not judged (a {_e(figures.get('window_part'))} day of the model)"
    else:
        drift = (f"max PSI {figures['max_psi']:.3f} ({_e(figures.get('max_psi_feature'))}), prediction PSI "
                 f"{figures['prediction_psi']:.3f}, ROC AUC {perf['roc_auc']:.4f}" if perf else
                 f"max PSI {figures['max_psi']:.3f}" if figures else "-")
    reasons = "; ".join(figures.get("retrain_reasons") or [])
    links = " ".join(filter(None, (_a(cockpit.lake_url(figures.get("report")), "drift report"),
                                   _a(cockpit.mlflow_run_url(figures.get("mlflow_run_id")), "MLflow run"))))
    cells = (f"<td>{_e(day)}</td><td>{_verdict('flights', day)}</td><td>{_verdict('weather', day)}</td>"
             f"<td>{_verdict('features', day)}</td><td>{_e(by)}</td>"
             f"<td>{drift} {links}<br><small>{_e(('retrain: ' + reasons) if reasons else '')}</small></td>")
    return f"<tr>{cells}</tr>"


def model_section(model: str, last: int = 5) -> str:
    from contrail.registry import ledger

    events = ledger.history(model)[-last:]
    if not events:
        return f"<p>No decision about {_e(model)} yet.</p>"
    rows = []
    for e in reversed(events):
        metrics, champion = e.get("metrics") or {}, e.get("champion_metrics") or {}
        compare = ", ".join(f"{k} {metrics[k]:.4f}" + (f" vs {champion[k]:.4f}" if k in champion else "")
                            for k in ("roc_auc", "pr_auc", "log_loss") if isinstance(metrics.get(k), (int, float)))
        link = _a(cockpit.model_version_url(model, e.get("version")), f"v{e.get('version')}")
        rows.append(f"<tr><td>{link or _e('v' + str(e.get('version')))}</td><td>{_e(e.get('action'))}</td>"
                    f"<td>{_e(e.get('champion_before'))} &rarr; {_e(e.get('champion_after'))}</td><td>{_e(compare)}</td>"
                    f"<td>{_e('; '.join(e.get('reasons') or []))}</td></tr>")
    return ("<table><tr><th>version</th><th>decision</th><th>champion before &rarr; after</th>"
            "<th>challenger vs champion (its holdout)</th><th>the gate's reasons</th></tr>" + "".join(rows) + "</table>")


def lineage(facts: dict) -> str:
    rows = [f"<tr><td>{_e(name)}</td><td>{_a(cockpit.run_report_url(dag, run), f'{dag} / {run}') if dag and run else '-'}"
            f"</td><td>{_e(', '.join(extra.get('days') or ([extra['dt']] if extra.get('dt') else [])))}</td></tr>"
            for name, extra, dag, run in facts["consumed"]]
    if not rows:
        return "<p>This run consumed no asset events (a scheduled, backfill or manual run).</p>"
    return "<table><tr><th>asset</th><th>made by</th><th>days</th></tr>" + "".join(rows) + "</table>"


def _refused(facts: dict) -> str:
    return f"<p class='failed'>Ignored: {_e('; '.join(facts['refused']))}</p>" if facts.get("refused") else ""


def run_report(dag_id: str, run_id: str) -> str:
    from contrail.training.tasks import model_name

    facts = cockpit.run_facts(dag_id, run_id)
    days = facts["days"]
    produced = ", ".join(sorted({name for name, *_ in facts["produced"]})) or "nothing"
    table = ("<table><tr><th>day</th><th>flights quality</th><th>weather quality</th><th>features quality</th>"
             "<th>scored by</th><th>drift and performance</th></tr>" + "".join(day_row(d) for d in days) + "</table>"
             if days else "<p>This run names no data day.</p>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(dag_id)} {_e(run_id)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{_e(dag_id)}</h1>"
            f"<p>Run <b>{_e(run_id)}</b> ({_e(facts['run_type'])}): <b>{_e(facts['state'])}</b>. Days: "
            f"{_e(', '.join(days) or '-')}. Published: {_e(produced)}. Estimated cost: "
            f"${facts['cost_usd']:.2f}.</p>{_refused(facts)}<h2>Days</h2>{table}<h2>Model {_e(model_name())}</h2>"
            f"{model_section(model_name())}<h2>Lineage: what this run consumed</h2>{lineage(facts)}</body></html>")


def app():
    """The FastAPI app the plugin mounts at /contrail in the api-server."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag, requires_authenticated
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import HTMLResponse, Response

    api = FastAPI(title="Contrail reports")

    # the auth manager decides, as for Airflow's own pages: a user who may read the DAG's runs; any user for reports
    @api.get("/run/{dag_id}/{run_id}", response_class=HTMLResponse,
             dependencies=[Depends(requires_access_dag("GET", DagAccessEntity.RUN))])
    def run_page(dag_id: str, run_id: str) -> str:
        try:
            return run_report(dag_id, run_id)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None

    @api.get("/lake/{relative:path}", dependencies=[Depends(requires_authenticated())])
    def lake_file(relative: str) -> Response:
        try:
            body, media = cockpit.read_report(relative)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None
        return Response(body, media_type=media)

    return api
