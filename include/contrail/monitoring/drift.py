"""Drift statistics between a reference profile (the training window) and one day's rows.

* PSI (population stability index) for every column: sum((a - e) * ln(a / e)) over bins (numeric:
  the reference's quantile bins; categorical: categories), shares clipped at 1e-4. Reading: < 0.1
  stable, 0.1-0.2 moderate shift, > 0.2 major shift.
* KS two-sample test for numeric columns, between a seeded sample of the reference (kept in the
  profile) and the day's values.
* Chi-square goodness of fit for categorical columns: the day's counts against the reference
  shares (categories unseen in the reference get a smoothed expected count, so they weigh in).

Missing values are their own bin ("<null>") on both sides, so a column that starts arriving empty
drifts. The profile is plain JSON (it is logged as an MLflow artifact and read back).
"""

from __future__ import annotations

NULL = "<null>"
EPS = 1e-4


def psi(expected_shares, actual_shares, eps: float = EPS) -> float:
    import numpy as np

    e = np.clip(np.asarray(expected_shares, dtype=float), eps, None)
    a = np.clip(np.asarray(actual_shares, dtype=float), eps, None)
    return float(np.sum((a - e) * np.log(a / e)))


def _edges(values, bins: int) -> list[float]:
    import numpy as np

    inner = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])) if len(values) else []
    return [float(x) for x in inner]


def _numeric_shares(series, edges: list[float]) -> tuple[list[float], float, int]:
    """Shares of non-null values per bin (bins split at `edges`), the missing share, and the row count."""
    import numpy as np

    values = series.to_numpy(dtype=float, na_value=np.nan)
    n = len(values)
    present = values[~np.isnan(values)]
    counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)
    return [float(c / n) for c in counts], float((n - len(present)) / n), n


def category_labels(series):
    """The categories of a column's values as strings, a missing value as its own category NULL."""
    return series.astype(object).where(series.notna(), NULL).astype(str)


def _categories(series) -> dict[str, int]:
    counts = category_labels(series).value_counts()
    return {str(k): int(v) for k, v in counts.items()}


def reference_profile(frame, numeric: list[str], categorical: list[str], bins: int = 10, sample: int = 5000,
                      seed: int = 0) -> dict:
    """A JSON-serialisable profile of `frame`: bins, shares and a KS sample per numeric column, shares per category."""
    import numpy as np

    if frame.empty:
        raise ValueError("cannot profile an empty reference frame")
    rng = np.random.default_rng(seed)
    columns = {}
    for column in numeric:
        values = frame[column].to_numpy(dtype=float, na_value=np.nan)
        present = values[~np.isnan(values)]
        edges = _edges(present, bins)
        shares, missing, _ = _numeric_shares(frame[column], edges)
        kept = present if len(present) <= sample else rng.choice(present, sample, replace=False)
        columns[column] = {"kind": "numeric", "edges": edges, "shares": shares, "missing": missing,
                           "sample": [float(v) for v in np.sort(kept)]}
    for column in categorical:
        counts = _categories(frame[column])
        columns[column] = {"kind": "categorical", "counts": counts}
    return {"rows": int(len(frame)), "columns": columns}


def _labels(edges: list[float]) -> list[str]:
    bounds = ["-inf", *[f"{e:.4g}" for e in edges], "inf"]
    return [f"[{lo}, {hi})" for lo, hi in zip(bounds, bounds[1:])]


def _compare_numeric(spec: dict, series) -> dict:
    import numpy as np
    from scipy import stats

    current, missing, _ = _numeric_shares(series, spec["edges"])
    reference, labels = list(spec["shares"]), _labels(spec["edges"])
    if missing or spec["missing"]:
        reference, current, labels = reference + [spec["missing"]], current + [missing], labels + [NULL]
    values = series.to_numpy(dtype=float, na_value=np.nan)
    values = values[~np.isnan(values)]
    if len(values) and spec["sample"]:
        test = stats.ks_2samp(spec["sample"], values)
        statistic, p_value = float(test.statistic), float(test.pvalue)
    else:  # a side without values: maximal difference unless both are empty
        statistic, p_value = (0.0, 1.0) if not len(values) and not spec["sample"] else (1.0, 0.0)
    return {"kind": "numeric", "psi": psi(reference, current), "test": "ks", "statistic": statistic, "p_value": p_value,
            "reference_share": reference, "current_share": current, "labels": labels}


def _compare_categorical(spec: dict, series) -> dict:
    import numpy as np
    from scipy import stats

    ref_counts, cur_counts = spec["counts"], _categories(series)
    labels = sorted(set(ref_counts) | set(cur_counts))
    ref_total, cur_total = sum(ref_counts.values()), sum(cur_counts.values())
    reference = [ref_counts.get(c, 0) / ref_total for c in labels]
    current = [cur_counts.get(c, 0) / cur_total for c in labels]
    expected = np.clip(np.asarray(reference), EPS, None)
    expected = expected / expected.sum() * cur_total
    observed = np.asarray([cur_counts.get(c, 0) for c in labels], dtype=float)
    test = stats.chisquare(observed, expected) if len(labels) > 1 else None
    return {"kind": "categorical", "psi": psi(reference, current), "test": "chi2",
            "statistic": float(test.statistic) if test else 0.0, "p_value": float(test.pvalue) if test else 1.0,
            "reference_share": reference, "current_share": current, "labels": labels}


def compare(profile: dict, frame) -> dict[str, dict]:
    """Per profiled column: PSI, the test (KS or chi-square) with its statistic and p-value, and both share vectors."""
    if frame is None or len(frame) == 0:
        raise ValueError(f"cannot measure drift on an empty frame ({len(profile['columns'])} profiled columns, 0 rows)")
    missing = [c for c in profile["columns"] if c not in frame.columns]
    if missing:
        raise ValueError(f"the frame lacks profiled columns: {', '.join(missing)}")
    return {column: (_compare_numeric if spec["kind"] == "numeric" else _compare_categorical)(spec, frame[column])
            for column, spec in profile["columns"].items()}


def summarise(result: dict, psi_threshold: float = 0.2, p_threshold: float = 0.01, ignore=()) -> dict:
    """The largest PSI, the columns at or above `psi_threshold` and those with a significant test.

    Columns in `ignore` stay in the result (and the report) but are not judged: a day's calendar
    columns (weekday, month, day of year) hold one value, so against a reference of many days they
    always "drift"; the seasonal shift they stand for shows in the weather and in the predictions.
    """
    judged = {c: r for c, r in result.items() if c not in set(ignore)}
    if not judged:
        return {"max_psi": 0.0, "max_psi_feature": None, "drifted": [], "significant": [], "n_features": 0,
                "not_judged": sorted(set(result) - set(judged))}
    worst = max(judged, key=lambda c: judged[c]["psi"])
    return {"max_psi": judged[worst]["psi"], "max_psi_feature": worst,
            "drifted": sorted(c for c, r in judged.items() if r["psi"] >= psi_threshold),
            "significant": sorted(c for c, r in judged.items() if r["p_value"] < p_threshold),
            "n_features": len(judged), "not_judged": sorted(set(result) - set(judged))}
