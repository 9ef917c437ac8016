"""Every DAG imports cleanly, carries its metadata and parses without heavy imports.

(No test of our own for cycles: DagBag runs dag.check_cycle() on every DAG it bags, so a cycle is an import
error, which the first test reports.)"""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
DAG_FILES = sorted(DAGS.glob("*.py"))
HEAVY = ["pandas", "numpy", "pyarrow", "pyspark", "mlflow", "great_expectations", "boto3", "google.cloud",
         "azure.storage", "sklearn", "lightgbm"]
EXPECTED = {"contrail_ingest", "contrail_features"}


def test_dag_folder_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert EXPECTED <= set(dagbag.dag_ids)


def test_every_dag_has_owner_retries_tags_docs_and_no_catchup(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.doc_md and len(dag.doc_md.strip()) > 80, dag_id
        assert dag.tags and "contrail" in dag.tags, dag_id
        assert dag.catchup is False, f"{dag_id} would catch up thousands of days when unpaused"
        assert dag.start_date <= dt.datetime(2013, 1, 1, tzinfo=dt.timezone.utc), f"{dag_id} cannot backfill 2013"
        for task in dag.tasks:
            assert task.owner == "contrail", f"{dag_id}.{task.task_id} owner {task.owner}"
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


@pytest.mark.parametrize("path", DAG_FILES, ids=[p.name for p in DAG_FILES])
def test_parsing_a_dag_file_imports_no_heavy_library(path):
    # Baseline: `import airflow.sdk`, which every DAG file pays and the dag-processor has already
    # loaded (it alone brings the empty google.cloud namespace package); count what the file adds.
    probe = (
        "import importlib.util, json, sys\n"
        "import airflow.sdk\n"
        f"before = {{m for m in {HEAVY!r} if m in sys.modules}}\n"
        f"spec = importlib.util.spec_from_file_location('probe', {str(path)!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules and m not in before]))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=os.environ)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
