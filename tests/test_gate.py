"""The promotion gate's rules on hand-made figures."""

import pytest

from contrail.registry.gate import GateConfig, decide

GOOD = {"roc_auc": 0.74, "pr_auc": 0.52, "log_loss": 0.55, "brier": 0.18}


def test_a_first_model_needs_only_the_minimum():
    assert decide(GOOD, None).promote
    low = decide({**GOOD, "roc_auc": 0.58}, None)
    assert not low.promote and "roc_auc 0.5800 < minimum 0.6000" in low.reasons[0]


def test_a_challenger_must_beat_the_champion():
    better = decide({**GOOD, "roc_auc": 0.75}, GOOD)
    assert better.promote, better.reasons
    same = decide(GOOD, GOOD)
    assert not same.promote and "vs champion 0.7400 (+0.0000" in same.summary
    worse = decide({**GOOD, "roc_auc": 0.73}, GOOD)
    assert not worse.promote and "(-0.0100" in worse.summary


def test_a_required_improvement_is_honoured():
    cfg = GateConfig(min_improvement=0.02)
    assert not decide({**GOOD, "roc_auc": 0.75}, GOOD, cfg).promote
    assert decide({**GOOD, "roc_auc": 0.77}, GOOD, cfg).promote


def test_secondary_metrics_may_not_regress_beyond_tolerance_in_their_own_direction():
    lossy = decide({**GOOD, "roc_auc": 0.75, "log_loss": 0.57}, GOOD)  # log loss: lower is better
    assert not lossy.promote and "log_loss regressed 0.5700 vs champion 0.5500" in lossy.summary
    within = decide({**GOOD, "roc_auc": 0.75, "log_loss": 0.555, "pr_auc": 0.515}, GOOD)
    assert within.promote, within.reasons
    better_loss = decide({**GOOD, "roc_auc": 0.75, "log_loss": 0.40}, GOOD)
    assert better_loss.promote


def test_a_regressing_slice_blocks_promotion_and_is_named():
    champion_slices = {"carrier=UA": 0.70, "origin=EWR": 0.72, "month=3": 0.71}
    fine = {"carrier=UA": 0.69, "origin=EWR": 0.75, "month=3": 0.71}
    broken = {**fine, "carrier=UA": 0.60}
    assert decide({**GOOD, "roc_auc": 0.75}, GOOD, GateConfig(), fine, champion_slices).promote
    refused = decide({**GOOD, "roc_auc": 0.75}, GOOD, GateConfig(), broken, champion_slices)
    assert not refused.promote and "carrier=UA 0.600 vs 0.700" in refused.summary
    # a slice the champion has no figure for is not compared
    assert decide({**GOOD, "roc_auc": 0.75}, GOOD, GateConfig(), {"carrier=ZZ": 0.1}, champion_slices).promote


def test_settings_come_from_the_environment_and_operator_arguments(monkeypatch):
    monkeypatch.setenv("CONTRAIL_GATE_MIN_VALUE", "0.8")
    monkeypatch.setenv("CONTRAIL_GATE_SECONDARY", "brier")
    cfg = GateConfig.from_env(slice_tolerance=0.01, tolerance=None)
    assert (cfg.min_value, cfg.secondary, cfg.slice_tolerance, cfg.tolerance) == (0.8, ("brier",), 0.01, 0.01)
    assert not decide(GOOD, None, cfg).promote


def test_figures_without_the_gate_metric_are_an_error_and_only_that_metric_is_required():
    with pytest.raises(ValueError, match=r"lack the gate metric 'roc_auc': \['pr_auc'\]"):
        decide({"pr_auc": 0.5}, None)
    with pytest.raises(ValueError, match="lack the gate metric 'pr_auc'"):  # the configured metric, whichever it is
        decide({"roc_auc": 0.74}, None, GateConfig(metric="pr_auc"))
    # a secondary metric either side lacks is not compared: the gate metric alone decides
    bare = decide({"roc_auc": 0.75}, GOOD)
    assert bare.promote and not any("regressed" in reason for reason in bare.reasons), bare.reasons
    assert not decide({"roc_auc": 0.73}, GOOD).promote
