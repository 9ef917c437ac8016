"""The per-day drift report: one self-contained HTML file (plots inline as SVG)."""

from __future__ import annotations

import html
from pathlib import Path

MAX_PLOTS = 25


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="{title}">'
            f'<text x="{width / 2}" y="14" text-anchor="middle" font-size="12">{title}</text>{"".join(body)}</svg>')


def _shares_plot(name: str, r: dict) -> str:
    """Reference and current shares per bin, side by side (inline SVG: a report of 25 plots is written in
    milliseconds, where PNGs through matplotlib took seconds a day)."""
    labels, ref, cur = [str(label)[:14] for label in r["labels"]], r["reference_share"], r["current_share"]
    step, top, plot_h = 34, 24, 120
    width, height = max(320, step * len(labels) + 60), top + plot_h + 90
    peak = max([*ref, *cur, 1e-9])
    body = [f'<line x1="40" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" stroke="#888"/>',
            f'<text x="36" y="{top + 8}" text-anchor="end" font-size="9">{peak:.2f}</text>']
    for i, (label, a, b) in enumerate(zip(labels, ref, cur)):
        x = 44 + i * step
        for offset, share, colour in ((0, a, "#4c72b0"), (14, b, "#dd8452")):
            h = plot_h * share / peak
            body.append(f'<rect x="{x + offset}" y="{top + plot_h - h:.1f}" width="13" height="{h:.1f}" fill="{colour}">'
                        f'<title>{html.escape(label)}: {share:.3f}</title></rect>')
        body.append(f'<text transform="translate({x + 14},{top + plot_h + 8}) rotate(60)" font-size="8">{html.escape(label)}</text>')
    body.append(f'<rect x="{width - 120}" y="{top}" width="9" height="9" fill="#4c72b0"/><text x="{width - 107}" y="{top + 8}" font-size="9">reference</text>'
                f'<rect x="{width - 120}" y="{top + 13}" width="9" height="9" fill="#dd8452"/><text x="{width - 107}" y="{top + 21}" font-size="9">this day</text>')
    return _svg(width, height, body, f"{name} (PSI {r['psi']:.3f})")


def _performance_plot(performance: list[dict], decay: dict | None) -> str:
    """Realised ROC AUC per day, with the holdout figure as a dashed line (inline SVG)."""
    values = [p["roc_auc"] for p in performance] + ([decay["reference_roc_auc"]] if decay else [])
    low, high = min(values) - 0.02, max(values) + 0.02
    step, left, top, plot_h = 28, 44, 24, 120
    width, height = max(360, left + step * len(performance) + 20), top + plot_h + 70

    def y(v: float) -> float:
        return top + plot_h * (high - v) / (high - low)

    points = " ".join(f"{left + 10 + i * step},{y(p['roc_auc']):.1f}" for i, p in enumerate(performance))
    body = [f'<polyline points="{points}" fill="none" stroke="#4c72b0" stroke-width="1.5"/>',
            f'<text x="{left - 4}" y="{y(high) + 8:.1f}" text-anchor="end" font-size="9">{high:.2f}</text>',
            f'<text x="{left - 4}" y="{y(low):.1f}" text-anchor="end" font-size="9">{low:.2f}</text>']
    for i, p in enumerate(performance):
        x = left + 10 + i * step
        body.append(f'<circle cx="{x}" cy="{y(p["roc_auc"]):.1f}" r="3" fill="#4c72b0"><title>{html.escape(p["dt"])}: '
                    f'ROC AUC {p["roc_auc"]:.4f}</title></circle>'
                    f'<text transform="translate({x - 3},{top + plot_h + 8}) rotate(60)" font-size="8">{html.escape(p["dt"])}</text>')
    if decay:
        ref = y(decay["reference_roc_auc"])
        body.append(f'<line x1="{left}" y1="{ref:.1f}" x2="{width - 10}" y2="{ref:.1f}" stroke="#888" stroke-dasharray="4 3">'
                    f'<title>holdout ROC AUC {decay["reference_roc_auc"]:.4f}</title></line>')
    return _svg(width, height, body, "Realised ROC AUC over time" + (" (dashed: holdout)" if decay else ""))


def _not_judged(summary: dict) -> str:
    skipped = summary.get("not_judged") or []
    return f" (not judged, one value per day: {html.escape(', '.join(skipped))})" if skipped else ""


STYLE = ("body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}"
         ".drift{background:#fde2e1} img{margin:4px}")


def write_not_judged(path: Path, figures: dict) -> Path:
    """The report of a day inside the scoring model's training window: what it is, and why it is not judged."""
    e = html.escape
    first, last = figures["window"]
    return _short_page(path, figures["dt"], "not judged", f"""<p>{_model(figures)} was trained on {e(first)}..{e(last)}, and
{e(figures['dt'])} is one of its {e(figures['window_part'])} days: <b>in window, not judged</b>. A model scores the days it
learnt from better than any other, so their drift and realised performance say nothing about decay; no retraining is
asked for. Monitoring judges the days after {e(last)}.</p>""")


def _model(figures: dict) -> str:
    return f"Model <b>{html.escape(figures['model'])}</b> version <b>{html.escape(str(figures['version']))}</b>"


def _short_page(path: Path, day: str, title: str, body: str) -> Path:
    e = html.escape
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"""<!doctype html><html><head><meta charset="utf-8"><title>Drift {e(day)}: {e(title)}</title>
<style>{STYLE}</style></head><body>
<h1>Drift report {e(day)}</h1>
{body}
</body></html>""")
    return path


def write_degraded(path: Path, figures: dict) -> Path:
    """The report of a degraded day: what it lacked, its realised performance, and why it is not judged."""
    e = html.escape
    perf = figures["performance"]
    shown = (f"Realised on its {perf['rows']} labelled flights: ROC AUC {perf['roc_auc']:.4f}, log loss {perf['log_loss']:.4f}."
             if perf else "Its labels do not give a realised performance.")
    return _short_page(path, figures["dt"], "degraded", f"""<p>{_model(figures)} scored {e(figures['dt'])}, a
<b>degraded</b> day ({figures['days_after_window']} day(s) after its window):</p>
<ul>{''.join(f'<li>{e(why)}</li>' for why in figures['degraded'])}</ul>
<p>{e(shown)} <b>Degraded, not judged</b>: the missing input would read as drift, so no drift verdict and no retraining
request come from this day, and the days after it are judged without it. Each of its predictions carries the
<code>degraded</code> mark of its row.</p>""")


def write_html(path: Path, *, day: str, model: str, version: str, drift: dict, summary: dict, profile: dict,
               limits: dict, performance: list[dict] | None = None, decay: dict | None = None,
               reasons: list[str] | None = None) -> Path:
    """Write the report of `day` to `path` and return it; `limits` holds the thresholds it was judged by."""
    e = html.escape
    ranked = sorted(drift.items(), key=lambda kv: -kv[1]["psi"])
    skipped = set(summary.get("not_judged") or [])
    thresholds = {**limits["psi"], "prediction": limits.get("prediction_psi")}

    def mark(name: str, r: dict) -> str:
        limit = thresholds.get(name)
        return "not judged" if name in skipped or limit is None else "drifted" if r["psi"] >= limit else ""

    def limit_cell(name: str) -> str:
        return "" if thresholds.get(name) is None else f"{thresholds[name]:.4f}"

    rows = "".join(
        f"<tr class='{'drift' if mark(name, r) == 'drifted' else ''}'><td>{e(name)}</td><td>{e(r['kind'])}</td>"
        f"<td>{r['psi']:.4f}</td><td>{limit_cell(name)}</td><td>{e(r['test'])}</td><td>{r['statistic']:.4g}</td>"
        f"<td>{r['p_value']:.3g}</td><td>{mark(name, r)}</td></tr>" for name, r in ranked)
    calibration = profile.get("calibration")
    basis = (f"thresholds calibrated at the {calibration['quantile']:.0%} quantile of the training window's own noise "
             f"(on its own days {calibration.get('in_window', {}).get('share', 0):.0%} would alarm)" if calibration
             else "fixed thresholds (this version was trained before calibration)")
    verdict = ("<p class='drift'><b>Retraining requested:</b> " + "; ".join(e(r) for r in reasons) + "</p>") if reasons \
        else "<p>No threshold crossed: no retraining requested.</p>"
    perf = ""
    if performance:
        perf = "<h2>Performance over time</h2>" + _performance_plot(performance, decay)
        if decay:
            limit = "" if decay.get("threshold") is None else f", threshold {decay['threshold']:.4f}"
            over = f" over the {decay['days']} trailing days" if decay.get("days", 1) > 1 else ""
            perf += (f"<p>Realised ROC AUC{over} {decay['roc_auc']:.4f} against holdout {decay['reference_roc_auc']:.4f} "
                     f"(decay {decay['decay']:+.4f}{limit}).</p>")
    plots = "".join(_shares_plot(e(name), r) for name, r in ranked[:MAX_PLOTS])
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Drift {e(day)} {e(model)} v{e(str(version))}</title>
<style>{STYLE}</style></head><body>
<h1>Drift report {e(day)}</h1>
<p>Model <b>{e(model)}</b> version <b>{e(str(version))}</b>; reference: its training window ({profile.get('rows', '?')} rows); current: {e(summary.get('current', 'this day'))}.
Largest PSI {summary['max_psi']:.3f} ({e(str(summary['max_psi_feature']))}); {len(summary['drifted'])} of
{summary['n_features']} columns above their thresholds{_not_judged(summary)}; {e(basis)}.</p>
{verdict}
<h2>PSI by column</h2><table><tr><th>column</th><th>kind</th><th>PSI</th><th>threshold</th><th>test</th><th>statistic</th><th>p-value</th><th></th></tr>
{rows}</table>
{perf}
<h2>Distributions: reference against this day</h2>{plots}
</body></html>"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
