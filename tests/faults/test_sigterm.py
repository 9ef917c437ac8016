"""Scenario 2: a task receives SIGTERM while it writes a partition.

The real `contrail_ingest` DAG runs in a process of its own (`dag.test`, the Task SDK's task runner, on the
test session's PostgreSQL), its Parquet writes slowed down; SIGTERM arrives as the first partition is
written. Airflow 3's task runner answers SIGTERM by calling the operator's `on_kill` and lets the task go
on, so the task must end either successful with every partition whole, or failed / up for retry with
nothing partial published: never successful with partial output. (A process without Airflow's handler dies
of SIGTERM as of SIGKILL: scenario 1.)
"""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys

import pytest

from contrail import ingest, storage
from contrail.sources import get_source

pytestmark = pytest.mark.airflow

DAY = "2013-06-10"
CHILD = r"""
import datetime as dt, os, sys, time
import pyarrow.parquet as pq

write = pq.write_table
def slow_write(*args, **kwargs):
    write(*args, **kwargs)
    print("wrote", flush=True)
    time.sleep(0.5)
pq.write_table = slow_write

from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder=os.path.join(os.environ["AIRFLOW__CORE__DAGS_FOLDER"], "contrail_ingest.py")).get_dag("contrail_ingest")
run = dag.test(logical_date=dt.datetime.fromisoformat(sys.argv[1]).replace(tzinfo=dt.timezone.utc))
print("RESULT", run.state, *sorted(f"{ti.task_id}={ti.state}" for ti in run.get_task_instances()), flush=True)
"""


def test_sigterm_during_a_write_never_ends_successful_with_partial_output(airflow_db, fault_report):
    child = subprocess.Popen([sys.executable, "-c", CHILD, DAY], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    terms, result = 0, None
    for line in child.stdout:
        if line.startswith("wrote") and terms == 0:
            child.send_signal(signal.SIGTERM)
            terms += 1
        if line.startswith("RESULT"):
            result = line.split()[1:]
    child.wait(timeout=300)
    assert terms == 1, child.stderr.read()[-3000:]
    assert result, f"dag.test exited with {child.returncode} before reporting: {child.stderr.read()[-3000:]}"
    state, tasks = result[0], dict(t.split("=", 1) for t in result[1:])
    print(f"after SIGTERM: run {state}, tasks {tasks}")
    assert set(tasks.values()) <= {"success", "failed", "up_for_retry", "upstream_failed"}, tasks
    day, source, rows = dt.date.fromisoformat(DAY), get_source(), 0
    for table, dataset in ingest.TABLES.items():
        dest = storage.location(dataset.partition(day))
        if not dest.exists():
            assert state != "success", f"the run succeeded without {dest}"
            continue
        published = storage.parquet_rows(dest)
        assert published == len(source.day_table(table, day)), f"{dest}: {published} rows, partial"
        rows += published
    if state == "success":
        assert set(tasks.values()) == {"success"}
    fault_report.add("2 SIGTERM mid-write", faults=terms, cases=1, rows=rows)
