"""The promotion gate: pure rules over a challenger's and the champion's figures on the same holdout.

A challenger is promoted only if
* its primary metric reaches the absolute minimum (the first model too);
* it beats the champion's primary metric by at least ``min_improvement`` (so of two challengers the
  better one ends as champion, whatever order they arrive in);
* no secondary metric regresses beyond ``tolerance`` (lower-is-better metrics are compared the
  other way round);
* no slice (carrier, origin, month) with figures for both models regresses beyond
  ``slice_tolerance``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

LOWER_IS_BETTER = {"log_loss", "brier"}


@dataclass(frozen=True)
class GateConfig:
    metric: str = "roc_auc"
    min_value: float = 0.60
    min_improvement: float = 0.0
    secondary: tuple[str, ...] = ("pr_auc", "log_loss")
    tolerance: float = 0.01
    slice_tolerance: float = 0.05

    @classmethod
    def from_env(cls, **overrides) -> "GateConfig":
        """Defaults, then CONTRAIL_GATE_<FIELD> variables, then `overrides` (operator arguments)."""
        values = {}
        for name, default in asdict(cls()).items():
            raw = os.environ.get(f"CONTRAIL_GATE_{name.upper()}")
            if raw is not None:
                values[name] = tuple(raw.split(",")) if isinstance(default, tuple) else type(default)(raw)
        return cls(**{**values, **{k: v for k, v in overrides.items() if v is not None}})


@dataclass
class Decision:
    promote: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return ("PROMOTE: " if self.promote else "REFUSE: ") + "; ".join(self.reasons)


def _worse_by(metric: str, challenger: float, champion: float) -> float:
    """How much worse the challenger is (positive = worse), whatever the metric's direction."""
    return challenger - champion if metric in LOWER_IS_BETTER else champion - challenger


def decide(challenger: dict, champion: dict | None, cfg: GateConfig = GateConfig(),
           challenger_slices: dict | None = None, champion_slices: dict | None = None) -> Decision:
    """The gate's decision with every reason, passing and failing, in words."""
    if cfg.metric not in challenger:
        raise ValueError(f"challenger figures lack the gate metric {cfg.metric!r}: {sorted(challenger)}")
    failed, passed = [], []
    value = challenger[cfg.metric]
    (passed if value >= cfg.min_value else failed).append(
        f"{cfg.metric} {value:.4f} {'>=' if value >= cfg.min_value else '<'} minimum {cfg.min_value:.4f}")
    if champion is None:
        passed.append("no champion yet: the first model needs only the minimum")
        return Decision(not failed, failed + passed)
    gain = 0.0 - _worse_by(cfg.metric, value, champion[cfg.metric])  # 0.0 - x: no "-0.0000" in reasons
    ok = gain > 0 and gain >= cfg.min_improvement
    (passed if ok else failed).append(
        f"{cfg.metric} {value:.4f} vs champion {champion[cfg.metric]:.4f} ({gain:+.4f}; needs > 0 and >= {cfg.min_improvement:+.4f})")
    for metric in cfg.secondary:
        if metric in challenger and metric in champion:
            worse = _worse_by(metric, challenger[metric], champion[metric])
            if worse > cfg.tolerance:
                failed.append(f"{metric} regressed {challenger[metric]:.4f} vs champion {champion[metric]:.4f} "
                              f"(by {worse:.4f} > tolerance {cfg.tolerance})")
    shared = sorted(set(challenger_slices or {}) & set(champion_slices or {}))
    regressed = [f"{s} {challenger_slices[s]:.3f} vs {champion_slices[s]:.3f}" for s in shared
                 if champion_slices[s] - challenger_slices[s] > cfg.slice_tolerance]
    if regressed:
        failed.append(f"{len(regressed)} slice(s) regressed beyond {cfg.slice_tolerance}: " + ", ".join(regressed))
    elif shared:
        passed.append(f"no slice regressed beyond {cfg.slice_tolerance} ({len(shared)} compared)")
    return Decision(not failed, failed + passed)
