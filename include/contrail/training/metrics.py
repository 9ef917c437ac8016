"""Holdout metrics, the operating threshold and per-slice figures of a probability model."""

from __future__ import annotations

SLICES = ("carrier", "origin", "month")
MIN_SLICE_ROWS = 100


def operating_threshold(y, p) -> float:
    """The probability cut that maximises F1 on (validation) labels `y` and scores `p`."""
    import numpy as np
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(y, p)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1[:-1]))]) if len(thresholds) else 0.5


def evaluate(y, p, threshold: float) -> dict[str, float]:
    """ROC AUC, PR AUC, log loss, Brier score, precision and recall at `threshold`."""
    import numpy as np
    from sklearn import metrics as m

    y = np.asarray(y).astype(int)
    p = np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
    if len(set(y)) < 2:
        raise ValueError(f"cannot evaluate on {len(y)} rows holding one class only ({sorted(set(y))})")
    predicted = (p >= threshold).astype(int)
    return {
        "roc_auc": float(m.roc_auc_score(y, p)),
        "pr_auc": float(m.average_precision_score(y, p)),
        "log_loss": float(m.log_loss(y, p, labels=[0, 1])),
        "brier": float(m.brier_score_loss(y, p)),
        "precision": float(m.precision_score(y, predicted, zero_division=0)),
        "recall": float(m.recall_score(y, predicted, zero_division=0)),
        "positive_share": float(y.mean()),
        "rows": float(len(y)),
    }


def slice_auc(frame, p, slices=SLICES, min_rows: int = MIN_SLICE_ROWS) -> dict[str, float]:
    """ROC AUC of every slice value (``carrier=UA``) with `min_rows` rows and both classes."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    p = np.asarray(p, dtype=float)
    out = {}
    for column in slices:
        for value, index in frame.groupby(column, sort=True).indices.items():
            y = frame["label"].to_numpy()[index]
            if len(index) >= min_rows and 0 < y.sum() < len(y):
                out[f"{column}={value}"] = float(roc_auc_score(y, p[index]))
    return out
