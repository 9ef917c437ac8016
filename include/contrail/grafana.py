"""The Grafana dashboard of deploy/grafana/contrail.json, generated from contrail.metrics.METRICS.

    python -m contrail.grafana > deploy/grafana/contrail.json

It reads Prometheus fed by a statsd-exporter (StatsD names with dots become underscores, so
`airflow.contrail.drift.max_psi` is `airflow_contrail_drift_max_psi`): one panel per Contrail
metric, grouped by section, then Airflow's own (DAG run durations, task failures, the scheduler's
heartbeat and the executor's slots).
"""

from __future__ import annotations

import json
import sys

from contrail.metrics import METRICS, PREFIX

AIRFLOW_PREFIX = "airflow"
AIRFLOW_PANELS = {
    "DAG run duration (success), seconds": "{__name__=~\"airflow_dagrun_duration_success_contrail_.*\"} / 1000",
    "Task failures per minute": "rate(airflow_ti_failures[5m]) * 60",
    "Scheduler heartbeats per minute": "rate(airflow_scheduler_heartbeat[5m]) * 60",
    "Executor open slots": "airflow_executor_open_slots",
}


def prometheus_name(metric: str) -> str:
    return f"{AIRFLOW_PREFIX}.{PREFIX}.{metric}".replace(".", "_")


def panel(number: int, title: str, expr: str, description: str = "") -> dict:
    return {"id": number, "type": "timeseries", "title": title, "description": description,
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"h": 7, "w": 8, "x": 8 * ((number - 1) % 3), "y": 7 * ((number - 1) // 3)},
            "targets": [{"refId": "A", "expr": expr, "legendFormat": "__auto"}]}


def dashboard() -> dict:
    panels = [panel(n, metric, prometheus_name(metric), description)
              for n, (metric, description) in enumerate(METRICS.items(), 1)]
    panels += [panel(len(panels) + n, title, expr) for n, (title, expr) in enumerate(AIRFLOW_PANELS.items(), 1)]
    return {"uid": "contrail", "title": "Contrail pipeline", "tags": ["contrail", "airflow"], "schemaVersion": 39,
            "time": {"from": "now-7d", "to": "now"}, "refresh": "1m",
            "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]},
            "panels": panels}


if __name__ == "__main__":
    sys.stdout.write(json.dumps(dashboard(), indent=1) + "\n")
