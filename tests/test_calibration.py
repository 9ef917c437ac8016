"""Thresholds calibrated on a training window's own noise: the leave-out statistics, the quantile, the rule.

Scenario table: a known noise floor gives its quantile; a shifted day alarms and an unshifted one
does not; in-window days rarely alarm; a bad quantile setting is refused naming it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import synthetic_features as synthetic
from contrail.config import ConfigError
from contrail.monitoring import calibration, drift
from contrail.training import model, window

DAYS = [f"2013-10-{i:02d}" for i in range(1, 29)]


def two_category_window(shares: list[float], rows: int = 1000) -> pd.DataFrame:
    """Day i holds rows * shares[i] rows of "a" and the rest "b" in column c; a numeric prediction column."""
    parts = []
    for day, share in zip(DAYS, shares):
        a = int(round(rows * share))
        parts.append(pd.DataFrame({"dt": day, "c": ["a"] * a + ["b"] * (rows - a), "prediction": np.linspace(0, 1, rows)}))
    return pd.concat(parts, ignore_index=True)


def test_a_known_noise_floor_gives_its_quantile():
    rng = np.random.default_rng(3)
    shares = list(np.round(rng.uniform(0.3, 0.7, len(DAYS)), 3))
    frame = two_category_window(shares)
    profile = drift.reference_profile(frame, ["prediction"], ["c"])
    got = calibration.calibrate(profile, frame, ["c"], q=0.9, max_days=3)

    def leave_out(block: list[int]) -> float:  # closed form: the block's shares against the other days'
        inside = sum(round(1000 * shares[i]) for i in block) / (1000 * len(block))
        rest = (sum(round(1000 * s) for s in shares) - inside * 1000 * len(block)) / (1000 * (len(DAYS) - len(block)))
        return drift.psi([rest, 1 - rest], [inside, 1 - inside])

    for k in (1, 2, 3):
        expected = [leave_out(list(range(a, a + k))) for a in range(len(DAYS) - k + 1)]
        assert got["by_days"][str(k)]["runs"] == len(expected)
        assert got["by_days"][str(k)]["psi"]["c"] == pytest.approx(float(np.quantile(expected, 0.9)), rel=1e-9)
    assert got["by_days"]["1"]["prediction_psi"] == pytest.approx(0.0, abs=1e-12)  # the same predictions every day
    assert calibration.limits_for(got, 99) == {**got["by_days"]["3"], "decay": None}  # beyond the range: the largest k


@pytest.fixture(scope="module")
def trained():
    """A 28-day synthetic window, a model fitted on its train days, its calibrated reference profile."""
    from sklearn.metrics import roc_auc_score

    frame = pd.concat([synthetic.make_day(d, rows=900) for d in DAYS], ignore_index=True)
    split, params = window.split(DAYS), model.check_params({})
    train = frame[frame["dt"].isin(split.train)]
    pipeline = model.fit(params, model.inputs(train), train[model.LABEL].to_numpy(), 13)
    holdout = frame[frame["dt"].isin(split.holdout)]
    auc = float(roc_auc_score(holdout[model.LABEL], pipeline.predict_proba(model.inputs(holdout))[:, 1]))
    frame["prediction"] = model.out_of_fold(params, frame, 13)
    limits = calibration.settings({})
    profile = calibration.reference_profile(frame, model.NUMERIC, model.CATEGORICAL, model.PER_DAY, limits)
    return pipeline, profile, auc, limits


def judge(trained, day: str, shift: bool):
    pipeline, profile, auc, limits = trained
    frame = synthetic.make_day(day, rows=900, shift=shift)
    frame["prediction"] = pipeline.predict_proba(model.inputs(frame))[:, 1]
    result = drift.compare(profile, frame)
    limit = calibration.limits_for(profile["calibration"], 1)
    return calibration.alarms(result, limit, limits["drift_share"]), result, limit


def test_a_shifted_day_alarms_and_an_unshifted_one_does_not(trained):
    quiet, _, _ = judge(trained, "2013-11-02", shift=False)
    assert quiet == []
    reasons, result, limit = judge(trained, "2013-11-03", shift=True)
    assert any(r.startswith("prediction distribution drifted") for r in reasons), reasons
    assert result["prediction"]["psi"] >= limit["prediction_psi"]
    assert {"temp", "hour"} <= set(calibration.drifted_features(result, limit))


def test_the_window_s_own_days_rarely_alarm(trained):
    _, profile, _, _ = trained
    in_window = profile["calibration"]["in_window"]
    assert in_window["days"] == len(DAYS) and in_window["share"] < 0.05, in_window


def test_out_of_fold_predictions_come_from_models_that_never_saw_the_day():
    frame = pd.concat([synthetic.make_day(d, rows=300, signal="hour") for d in DAYS[:8]], ignore_index=True)
    params = model.check_params({})
    oof = model.out_of_fold(params, frame, 13, folds=4)
    first = frame["dt"].isin(DAYS[:2])  # the first fold's days, predicted by a model fitted on the other six
    rest = frame[~first]
    alone = model.fit(params, model.inputs(rest), rest[model.LABEL].to_numpy(), 13).predict_proba(model.inputs(frame[first]))[:, 1]
    assert np.allclose(oof[first.to_numpy()], alone) and not np.isnan(oof).any()


def test_decay_is_judged_against_the_calibrated_floor(trained):
    _, profile, auc, limits = trained
    decay = profile["calibration"]["decay"]
    assert decay["days"] == len(DAYS) and decay["draws"] == calibration.BOOTSTRAP_DRAWS
    assert decay["threshold"] == max(decay["by_day"], decay["bootstrap"], 0.0) > 0
    limit = calibration.limits_for(profile["calibration"], 1)
    quiet = {"prediction": {"psi": 0.0}}
    assert calibration.alarms(quiet, limit, limits["drift_share"], auc - decay["threshold"] / 2, auc) == []
    reasons = calibration.alarms(quiet, limit, limits["drift_share"], auc - decay["threshold"] * 2, auc)
    assert len(reasons) == 1 and reasons[0].startswith("ROC AUC decayed")


def test_decay_over_more_trailing_days_has_a_tighter_floor_and_names_the_days(trained):
    _, profile, auc, limits = trained
    decay = profile["calibration"]["decay"]
    by_days = decay["by_days"]
    assert sorted(map(int, by_days)) == list(range(1, limits["window_days"] + 1)) and by_days["1"]["threshold"] == decay["threshold"]
    for k, floor in by_days.items():  # every run of k consecutive days of the window, and k days' worth of bootstrap rows
        assert floor["runs"] == len(DAYS) - int(k) + 1 and floor["threshold"] == max(floor["by_day"], floor["bootstrap"], 0.0)
    # a week pooled is judged against a week's noise: some seven times the rows, a floor well under one day's
    assert by_days["7"]["threshold"] < 0.6 * by_days["1"]["threshold"]
    week = calibration.limits_for(profile["calibration"], 7)
    assert week["decay"] == by_days["7"]["threshold"] and calibration.limits_for(profile["calibration"], 99)["decay"] == week["decay"]
    quiet = {"prediction": {"psi": 0.0}}
    between = auc - (by_days["7"]["threshold"] + by_days["1"]["threshold"]) / 2  # a decay one day may show by chance, a week not
    assert calibration.alarms(quiet, calibration.limits_for(profile["calibration"], 1), limits["drift_share"], between, auc) == []
    (reason,) = calibration.alarms(quiet, week, limits["drift_share"], between, auc, days=7)
    assert reason.startswith("ROC AUC over 7 days decayed")
    legacy = {**profile["calibration"], "decay": {k: v for k, v in decay.items() if k != "by_days"}}  # trained before
    assert calibration.limits_for(legacy, 7)["decay"] == decay["threshold"]


@pytest.mark.parametrize("raw", ["0.2", "1", "often"])
def test_a_bad_quantile_is_refused_naming_the_setting(raw):
    with pytest.raises(ConfigError, match=r"CONTRAIL_ALARM_QUANTILE=.*from 0.5 up to"):
        calibration.settings({"CONTRAIL_ALARM_QUANTILE": raw})
