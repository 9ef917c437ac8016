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


@pytest.fixture(scope="module")
def added_imports() -> dict[str, list[str]]:
    """Per DAG file, the heavy modules that parsing it imports, each file in a process of its own.

    Baseline: `import airflow.sdk`, which every DAG file pays and the dag-processor has already loaded (it alone
    brings the empty google.cloud namespace package); the probe imports it once and forks a child per file, so
    each file starts from that baseline alone and what one file imports cannot hide what another does."""
    probe = (
        "import importlib.util, json, os, sys\n"
        "import airflow.sdk\n"
        f"before = {{m for m in {HEAVY!r} if m in sys.modules}}\n"
        f"for path in {[str(p) for p in DAG_FILES]!r}:\n"
        "    read, write = os.pipe()\n"
        "    if os.fork() == 0:\n"
        "        os.close(read)\n"
        "        spec = importlib.util.spec_from_file_location('probe', path)\n"
        "        spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        f"        os.write(write, json.dumps([m for m in {HEAVY!r} if m in sys.modules and m not in before]).encode())\n"
        "        os._exit(0)\n"
        "    os.close(write)\n"
        "    with os.fdopen(read) as answer:\n"
        "        added = answer.read()\n"
        "    _, status = os.wait()\n"
        "    print(json.dumps({path: json.loads(added) if status == 0 and added else f'exited with {status}'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, env=os.environ)
    assert out.returncode == 0, out.stderr[-2000:]
    found = {}
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            found.update(json.loads(line))
    return found


@pytest.mark.parametrize("path", DAG_FILES, ids=[p.name for p in DAG_FILES])
def test_parsing_a_dag_file_imports_no_heavy_library(path, added_imports):
    assert added_imports[str(path)] == []
