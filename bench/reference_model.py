"""The delay model against a plain single-node LightGBM, on the reference split of 2013.

    .venv/bin/python bench/reference_model.py [--lake DIR]

The same feature days as the year replay (bench/ct_replay.py builds and keeps them in --lake): train
January-September, validate October, hold out November-December. Contrail's training job (`job.fit`:
the scikit-learn pipeline with its ordinal encoder and LightGBM at the project's defaults, its
threshold chosen on validation) against `lightgbm.LGBMClassifier()` at its own defaults on the same
inputs (carrier, origin and dest as pandas categories), early-stopped on October. Printed: holdout
ROC AUC, PR AUC and log loss of both, side by side. Target: Contrail's holdout ROC AUC >= 0.684.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _env
import ct_replay

TARGET = 0.684


def plain_lightgbm(frames: dict) -> dict:
    """LightGBM at its defaults on the model's inputs, categories as pandas categories, early-stopped on validation."""
    import lightgbm
    import pandas as pd

    from contrail.training import metrics, model

    def xy(frame):
        x = model.inputs(frame)
        for column in model.CATEGORICAL:
            x[column] = pd.Categorical(x[column], categories=sorted(frames["train"][column].dropna().unique()))
        return x, frame[model.LABEL].astype(int).to_numpy()

    (train_x, train_y), (valid_x, valid_y), (hold_x, hold_y) = (xy(frames[p]) for p in ("train", "validation", "holdout"))
    fitted = lightgbm.LGBMClassifier(n_estimators=2000, verbose=-1, random_state=13).fit(
        train_x, train_y, eval_set=[(valid_x, valid_y)], callbacks=[lightgbm.early_stopping(50, verbose=False)])
    p_valid = fitted.predict_proba(valid_x)[:, 1]
    return metrics.evaluate(hold_y, fitted.predict_proba(hold_x)[:, 1], metrics.operating_threshold(valid_y, p_valid)) | {
        "trees": int(fitted.best_iteration_ or fitted.n_estimators)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, default=ct_replay.LAKE)
    args = parser.parse_args(argv)
    usable = ct_replay.year_days(args.lake.resolve())
    report = _env.Report("reference_model")
    report.header("The delay model against plain LightGBM, reference split of 2013")
    from contrail.training import job, window

    split = {"train": [d for d in usable if d < "2013-10-01"], "validation": [d for d in usable if d[:7] == "2013-10"],
             "holdout": [d for d in usable if d >= "2013-11-01"]}
    frames = {part: window.load(days) for part, days in split.items()}
    report(", ".join(f"{part} {days[0]}..{days[-1]} ({len(days)} days, {len(frames[part]):,} flights)" for part, days in split.items()))
    ours, result = _env.timed(lambda: job.fit(frames, job.spec(split)), 1)  # (its fit includes the out-of-fold reference)
    plain_s, plain = _env.timed(lambda: plain_lightgbm(frames), 1)
    rows = [["Contrail (job.fit)", f"{result['holdout']['roc_auc']:.4f}", f"{result['holdout']['pr_auc']:.4f}",
             f"{result['holdout']['log_loss']:.4f}", f"{ours:.0f} s"],
            [f"plain LightGBM ({plain['trees']} trees)", f"{plain['roc_auc']:.4f}", f"{plain['pr_auc']:.4f}",
             f"{plain['log_loss']:.4f}", f"{plain_s:.0f} s"]]
    report.table(["model", "holdout ROC AUC", "PR AUC", "log loss", "fit"], rows, right={1, 2, 3, 4})
    met = result["holdout"]["roc_auc"] >= TARGET
    report(f"\ntarget: Contrail's holdout ROC AUC >= {TARGET}: {'met' if met else 'NOT met'}")
    report.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
