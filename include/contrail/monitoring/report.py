"""The per-day drift report: one self-contained HTML file (plots embedded as PNG)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

MAX_PLOTS = 25


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=70, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _shares_plot(name: str, r: dict) -> str:
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.arange(len(r["labels"]))
    fig, ax = plt.subplots(figsize=(max(4, 0.35 * len(x) + 2), 2.6))
    ax.bar(x - 0.2, r["reference_share"], 0.4, label="reference")
    ax.bar(x + 0.2, r["current_share"], 0.4, label="this day")
    ax.set_xticks(x, [str(label)[:14] for label in r["labels"]], rotation=60, fontsize=7)
    ax.set_title(f"{name} (PSI {r['psi']:.3f})", fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


def _performance_plot(performance: list[dict], decay: dict | None) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.plot([p["dt"] for p in performance], [p["roc_auc"] for p in performance], marker="o", label="realised ROC AUC")
    if decay:
        ax.axhline(decay["reference_roc_auc"], color="grey", linestyle="--", label="holdout ROC AUC")
    ax.tick_params(axis="x", rotation=60, labelsize=7)
    ax.set_title("Performance over time", fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


def _not_judged(summary: dict) -> str:
    skipped = summary.get("not_judged") or []
    return f" (not judged, one value per day: {html.escape(', '.join(skipped))})" if skipped else ""


STYLE = ("body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}"
         ".drift{background:#fde2e1} img{margin:4px}")


def write_not_judged(path: Path, figures: dict) -> Path:
    """The report of a day inside the scoring model's training window: what it is, and why it is not judged."""
    e = html.escape
    first, last = figures["window"]
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Drift {e(figures['dt'])}: not judged</title>
<style>{STYLE}</style></head><body>
<h1>Drift report {e(figures['dt'])}</h1>
<p>Model <b>{e(figures['model'])}</b> version <b>{e(str(figures['version']))}</b> was trained on {e(first)}..{e(last)}, and
{e(figures['dt'])} is one of its {e(figures['window_part'])} days: <b>in window, not judged</b>. A model scores the days it
learnt from better than any other, so their drift and realised performance say nothing about decay; no retraining is
asked for. Monitoring judges the days after {e(last)}.</p>
</body></html>"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path


def write_html(path: Path, *, day: str, model: str, version: str, drift: dict, summary: dict, profile: dict,
               limits: dict, performance: list[dict] | None = None, decay: dict | None = None,
               reasons: list[str] | None = None) -> Path:
    """Write the report of `day` to `path` and return it; `limits` holds the thresholds it was judged by."""
    import matplotlib

    matplotlib.use("Agg")
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
            perf += (f"<p>Realised ROC AUC {decay['roc_auc']:.4f} against holdout {decay['reference_roc_auc']:.4f} "
                     f"(decay {decay['decay']:+.4f}{limit}).</p>")
    plots = "".join(_shares_plot(e(name), r) for name, r in ranked[:MAX_PLOTS])
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Drift {e(day)} {e(model)} v{e(str(version))}</title>
<style>{STYLE}</style></head><body>
<h1>Drift report {e(day)}</h1>
<p>Model <b>{e(model)}</b> version <b>{e(str(version))}</b>; reference: its training window ({profile.get('rows', '?')} rows); current: {e(summary.get('current', 'this day'))}.
Largest PSI {summary['max_psi']:.3f} ({e(str(summary['max_psi_feature']))}); {len(summary['drifted'])} of
{summary['n_features']} columns at or above their thresholds{_not_judged(summary)}; {e(basis)}.</p>
{verdict}
<h2>PSI by column</h2><table><tr><th>column</th><th>kind</th><th>PSI</th><th>threshold</th><th>test</th><th>statistic</th><th>p-value</th><th></th></tr>
{rows}</table>
{perf}
<h2>Distributions: reference against this day</h2>{plots}
</body></html>"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
