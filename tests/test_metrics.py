"""The pipeline's metric names and the Grafana dashboard that charts them. (The metrics reaching a real StatsD
peer from the task processes of a running deployment: tests/test_prod.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contrail import grafana, metrics

DASHBOARD = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "contrail.json"


def test_the_dashboard_in_the_repository_is_the_generated_one():
    assert json.loads(DASHBOARD.read_text()) == grafana.dashboard(), \
        "deploy/grafana/contrail.json is stale: python -m contrail.grafana > deploy/grafana/contrail.json"


def test_every_metric_has_a_panel_and_every_panel_reads_a_metric_that_is_sent_or_airflows_own():
    exprs = [t["expr"] for p in grafana.dashboard()["panels"] for t in p["targets"]]
    assert sorted(grafana.prometheus_name(m) for m in metrics.METRICS) == sorted(
        e for e in exprs if e.startswith("airflow_contrail_"))
    assert all(e.startswith("airflow_contrail_") or "airflow_" in e for e in exprs)


def test_metric_names_pass_airflows_stat_name_check():
    from airflow.sdk._shared.observability.metrics.validators import stat_name_default_handler

    for name in metrics.METRICS:
        assert stat_name_default_handler(f"airflow.{metrics.PREFIX}.{name}") == f"airflow.{metrics.PREFIX}.{name}"


def test_an_unknown_metric_is_refused_by_name():
    with pytest.raises(KeyError, match="unknown metric 'rows'.*METRICS"):
        metrics.gauge("rows", 1)
