"""Hyperparameter search with Optuna over model.SEARCH_SPACE, within a trial budget and a time budget."""

from __future__ import annotations

import logging
import time

from contrail.training import model


def suggest(trial) -> dict:
    """One point of the search space, drawn by an Optuna trial."""
    params = {}
    for name, space in model.SEARCH_SPACE.items():
        if space.kind == "int":
            params[name] = trial.suggest_int(name, int(space.low), int(space.high), log=space.log)
        else:
            params[name] = trial.suggest_float(name, space.low, space.high, log=space.log)
    return params


def tune(train_x, train_y, valid_x, valid_y, n_trials: int, timeout_s: float, seed: int = 13) -> dict:
    """Best params by validation ROC AUC; the defaults are always trial 0, so tuning never does worse than none."""
    import optuna
    from sklearn.metrics import roc_auc_score

    if n_trials < 1 or timeout_s <= 0:
        raise ValueError(f"tuning needs a trial budget >= 1 and a time budget > 0, got {n_trials} trials, {timeout_s} s")
    logging.getLogger("optuna").setLevel(logging.WARNING)

    def objective(trial) -> float:
        pipeline = model.fit(suggest(trial), train_x, train_y, seed)
        return float(roc_auc_score(valid_y, pipeline.predict_proba(valid_x)[:, 1]))

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(model.DEFAULTS)
    started = time.monotonic()
    study.optimize(objective, n_trials=n_trials, timeout=timeout_s)
    trials = [{"number": t.number, "value": t.value, **t.params} for t in study.trials if t.value is not None]
    return {"params": dict(study.best_params), "best_validation_roc_auc": float(study.best_value),
            "trials": trials, "seconds": round(time.monotonic() - started, 2)}
