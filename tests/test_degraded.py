"""When a day is degraded: the auxiliary inputs its flights lack, against the limits (pure, on hand-made frames)."""

import pandas as pd
import pytest

from contrail.config import ConfigError
from contrail.quality import degraded


def day(weather: int, plane: int, both: int = 0, complete: int = 100) -> pd.DataFrame:
    marks = ["weather"] * weather + ["plane"] * plane + ["weather,plane"] * both + [""] * complete
    return pd.DataFrame({"flight": range(len(marks)), "degraded": marks})


FAILED = {"status": "failed", "critical": ["weather.not_empty on (table): observed 0"]}
PASSED = {"status": "passed", "critical": []}


@pytest.mark.parametrize("frame, weather, expected", [
    (day(0, 15), PASSED, []),  # a plane missing for 13 % of flights: the normal share of this data
    (day(10, 0, complete=90), PASSED, []),  # 10 % of flights without weather: at the limit, not over it
    (day(11, 0, complete=89), PASSED, ["weather: 11.0% of the day's 100 flights lack it, over the limit of 10%"]),
    (day(0, 5, 15, complete=80), PASSED, ["weather: 15.0% of the day's 100 flights lack it, over the limit of 10%"]),
    (day(0, 35, complete=65), PASSED, ["plane: 35.0% of the day's 100 flights lack it, over the limit of 30%"]),
    # the gate failed: one reason for weather (not a second one for its share), whatever the share says
    (day(100, 0, complete=0), FAILED, ["weather: its quality gate failed (weather.not_empty on (table): observed 0); "
                                       "no flight of the day has weather"]),
])
def test_a_day_is_degraded_by_a_failed_weather_gate_or_a_share_over_its_limit(frame, weather, expected):
    found = degraded.reasons(frame, weather, degraded.DEFAULT_LIMITS)
    assert [r.split(" (CONTRAIL_")[0] for r in found] == expected


def test_the_shares_count_each_input_once_per_row_and_an_empty_day_lacks_nothing():
    assert degraded.shares(day(1, 2, 1, complete=6)) == {"weather": 0.2, "plane": 0.3}
    assert degraded.shares(pd.DataFrame({"degraded": []})) == {"weather": 0.0, "plane": 0.0}
    assert degraded.shares(pd.DataFrame({"flight": [1]})) == {"weather": 0.0, "plane": 0.0}  # built before the mark


def test_the_limits_are_settings_checked_with_a_message_naming_them():
    assert degraded.limits({}) == {"weather": 0.10, "plane": 0.30}
    assert degraded.limits({"CONTRAIL_DEGRADED_WEATHER_SHARE": "0.02"})["weather"] == 0.02
    with pytest.raises(ConfigError, match="CONTRAIL_DEGRADED_PLANE_SHARE='a lot' is not a number"):
        degraded.limits({"CONTRAIL_DEGRADED_PLANE_SHARE": "a lot"})
    with pytest.raises(ConfigError, match="CONTRAIL_DEGRADED_WEATHER_SHARE=1.5 must be a share between 0 and 1"):
        degraded.limits({"CONTRAIL_DEGRADED_WEATHER_SHARE": "1.5"})


def test_the_run_report_shows_a_degraded_day_as_not_judged_with_its_reasons(tmp_path, monkeypatch):
    import json

    from contrail import cockpit_pages
    from contrail.monitoring import monitor

    monkeypatch.setenv("CONTRAIL_DATA_ROOT", str(tmp_path / "lake"))
    figures = monitor.figures_path("2013-12-31")
    figures.parent.mkdir(parents=True, exist_ok=True)
    figures.write_text(json.dumps({"dt": "2013-12-31", "judged": False, "verdict": monitor.DEGRADED, "retrain_reasons": [],
                                   "degraded": ["weather: its quality gate failed (weather.not_empty)"],
                                   "performance": {"roc_auc": 0.61234, "rows": 759}}))
    row = cockpit_pages.day_row("2013-12-31")
    assert "degraded, not judged (weather: its quality gate failed (weather.not_empty)), realised ROC AUC 0.6123" in row
    assert "in window" not in row
