"""Drift statistics on hand-made distributions with known answers, and the HTML report."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from contrail.monitoring import drift, report


def frame(seed: int, mean: float = 0.0, n: int = 5000, carriers=("UA", "AA", "DL"), p=(0.5, 0.3, 0.2)):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(mean, 1, n), "carrier": rng.choice(list(carriers), n, p=list(p))})


def profile_of(f):
    return drift.reference_profile(f, ["x"], ["carrier"])


def test_psi_has_its_closed_form():
    assert drift.psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert drift.psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(expected, abs=1e-12)


def test_the_same_distribution_does_not_drift():
    result = drift.compare(profile_of(frame(1)), frame(2))
    assert result["x"]["psi"] < 0.05 and result["x"]["p_value"] > 0.01
    assert result["carrier"]["psi"] < 0.01 and result["carrier"]["p_value"] > 0.01
    assert drift.summarise(result)["drifted"] == []


def test_a_shifted_mean_drifts_and_is_significant():
    result = drift.compare(profile_of(frame(1)), frame(2, mean=1.0))
    assert result["x"]["psi"] > 0.2 and result["x"]["p_value"] < 1e-6 and result["x"]["test"] == "ks"
    summary = drift.summarise(result)
    assert summary["drifted"] == ["x"] and summary["max_psi_feature"] == "x" and "x" in summary["significant"]


def test_columns_not_judged_stay_in_the_result_but_never_count():
    result = drift.compare(profile_of(frame(1)), frame(2, mean=1.0))
    summary = drift.summarise(result, ignore=("x",))
    assert summary["drifted"] == [] and summary["max_psi_feature"] == "carrier" and summary["n_features"] == 1
    assert summary["not_judged"] == ["x"] and result["x"]["psi"] > 0.2


def test_a_new_category_drifts_and_is_named():
    current = frame(2, carriers=("UA", "AA", "DL", "ZZ"), p=(0.35, 0.21, 0.14, 0.30))
    result = drift.compare(profile_of(frame(1)), current)["carrier"]
    assert result["psi"] > 0.2 and result["p_value"] < 1e-12 and result["test"] == "chi2"
    assert "ZZ" in result["labels"] and result["reference_share"][result["labels"].index("ZZ")] == 0


def test_a_column_arriving_half_empty_drifts():
    current = frame(2)
    current.loc[current.index[::2], "x"] = np.nan
    result = drift.compare(profile_of(frame(1)), current)["x"]
    assert result["labels"][-1] == drift.NULL and result["current_share"][-1] == pytest.approx(0.5)
    assert result["psi"] > 0.2


def test_the_profile_survives_json_and_gives_the_same_answer():
    ref = profile_of(frame(1))
    again = json.loads(json.dumps(ref))
    current = frame(3, mean=0.3)
    assert drift.compare(again, current) == drift.compare(ref, current)
    assert len(ref["columns"]["x"]["sample"]) == 5000 and ref["rows"] == 5000


def test_empty_or_incomplete_frames_are_refused():
    ref = profile_of(frame(1))
    with pytest.raises(ValueError, match="empty frame \\(2 profiled columns, 0 rows\\)"):
        drift.compare(ref, frame(2).iloc[:0])
    with pytest.raises(ValueError, match="lacks profiled columns: carrier"):
        drift.compare(ref, frame(2)[["x"]])


def test_the_report_holds_the_table_plots_and_escapes_text(tmp_path):
    ref = profile_of(frame(1))
    current = frame(2, mean=1.0, carriers=("UA", "<script>"), p=(0.5, 0.5))
    result = drift.compare(ref, current)
    path = report.write_html(tmp_path / "r" / "report.html", day="2013-07-01", model="<script>m", version="3", drift=result,
                             summary=drift.summarise(result, ignore=("carrier",)), profile=ref,
                             limits={"psi": {"x": 0.2}, "prediction_psi": None},
                             performance=[{"dt": "2013-06-30", "roc_auc": 0.7, "log_loss": 0.5},
                                          {"dt": "2013-07-01", "roc_auc": 0.6, "log_loss": 0.6}],
                             decay={"reference_roc_auc": 0.72, "roc_auc": 0.6, "decay": 0.12}, reasons=["x drifted"])
    text = path.read_text()
    assert "<td>x</td>" in text and "<td>carrier</td>" in text
    # a plot per column, a bar per bin and side (reference, this day), and the performance over time with the holdout line
    bins = len(result["x"]["labels"])
    assert f'aria-label="x (PSI {result["x"]["psi"]:.3f})"' in text and text.count("</rect>") == 2 * sum(len(r["labels"]) for r in result.values())
    assert bins > 1 and text.count("<circle") == 2 and "2013-07-01: ROC AUC 0.6000" in text and "holdout ROC AUC 0.7200" in text
    assert "&lt;script&gt;m" in text and "<script>" not in text
    assert "<td>not judged</td>" in text and "(not judged, one value per day: carrier)" in text
    assert "Retraining requested:</b> x drifted" in text and "(decay +0.1200)" in text
    assert "<td>0.2000</td>" in text and "fixed thresholds" in text  # the threshold x was judged by, and its basis
