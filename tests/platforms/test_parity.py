"""Every DAG file parses into the same DAG ids, task ids and dependencies under every built profile,
imports no cloud SDK while it parses, and loads under the production shape's environment.

Each parse runs in a fresh process (a module imported once stays imported), as the dag-processor
does it: the DAG folder through DagBag, with only the profile's name and lake root set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contrail.platforms import PLATFORMS

ROOT = Path(__file__).resolve().parents[2]
ROOTS = {"aws": "s3://contrail-check/lake", "gcp": "gs://contrail-check/lake",
         "azure": "abfs://lake@contrailcheck.dfs.core.windows.net/lake"}
SDKS = ("boto3", "botocore", "aiobotocore", "google.cloud.storage", "google.cloud.dataproc_v1", "azure.storage", "azure.ai.ml")
PARSE = r'''
import json, os, sys
sys.path[:0] = [os.getcwd(), "include", "plugins", "dags"]
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
print("PARITY " + json.dumps({
    "errors": {k: v.strip().splitlines()[-1] for k, v in bag.import_errors.items()},
    "sdks": sorted(m for m in %r if m in sys.modules),
    "graph": {d: sorted((t.task_id, sorted(t.downstream_task_ids)) for t in g.tasks) for d, g in bag.dags.items()},
    "operators": {d: {t.task_id: t.operator_name for t in g.tasks} for d, g in bag.dags.items()}}))
''' % (SDKS,)


def parse(**env: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PARSE], env={**os.environ, **env}, cwd=ROOT, capture_output=True,
                         text=True, timeout=240)
    lines = [line for line in out.stdout.splitlines() if line.startswith("PARITY ")]
    assert lines, out.stderr[-3000:]
    return json.loads(lines[-1][len("PARITY "):])


@pytest.fixture(scope="module")
def local():
    parsed = parse(CONTRAIL_PROFILE="local")
    assert parsed["errors"] == {} and parsed["sdks"] == []
    return parsed


@pytest.mark.parametrize("profile", [p for p in PLATFORMS if p != "local"])
def test_every_dag_is_the_same_graph_under_the_profile_and_parses_without_its_sdk(profile, local):
    parsed = parse(CONTRAIL_PROFILE=profile, CONTRAIL_DATA_ROOT=ROOTS[profile])
    assert parsed["errors"] == {}
    assert parsed["sdks"] == []  # the provider operators are built when their tasks run
    assert parsed["graph"] == local["graph"]
    # and the steps really are the cloud's: the same task ids, other operators
    assert parsed["operators"]["contrail_features"]["build_features.submit_job"] != \
        local["operators"]["contrail_features"]["build_features.submit_job"]


def test_the_production_shape_loads_every_dag(local):
    import yaml
    from test_compose import _text, env_example, env_of, interpolate

    worker = env_of(interpolate(yaml.safe_load(_text()), env_example())["services"]["airflow-worker"])
    contrail = {k: v for k, v in worker.items() if k.startswith(("CONTRAIL_", "MLFLOW_"))}
    assert contrail["CONTRAIL_PROFILE"] in PLATFORMS
    parsed = parse(**contrail)
    assert parsed["errors"] == {} and parsed["graph"] == local["graph"]


OFFICIAL = {
    "aws": {"contrail_features": {"build_features.start_cluster": "EmrCreateJobFlowOperator",
                                  "build_features.submit_job": "EmrAddStepsOperator", "build_features.await_job": "EmrStepSensor",
                                  "build_features.stop_cluster": "EmrTerminateJobFlowOperator"},
            "contrail_training": {"train.submit_training": "SageMakerTrainingOperator", "train.await_training": "SageMakerTrainingSensor",
                                  "train.submit_tuning": "SageMakerTuningOperator", "train.await_tuning": "SageMakerTuningSensor",
                                  "mirror_model.register_version": "SageMakerRegisterModelVersionOperator"},
            "contrail_serving": {"serve.deploy_endpoint": "SageMakerEndpointOperator"}},
    "gcp": {"contrail_features": {"build_features.start_cluster": "DataprocCreateClusterOperator",
                                  "build_features.submit_job": "DataprocSubmitJobOperator",
                                  "build_features.await_job": "DataprocJobSensor",
                                  "build_features.stop_cluster": "DataprocDeleteClusterOperator"},
            "contrail_inference": {"score_features.start_cluster": "DataprocCreateClusterOperator",
                                   "score_features.submit_job": "DataprocSubmitJobOperator"},
            "contrail_training": {"train.submit_training": "CreateCustomJobOperator",
                                  "train.submit_tuning": "CreateHyperparameterTuningJobOperator",
                                  "mirror_model.register_version": "UploadModelOperator"}},
    "azure": {"contrail_features": {"build_features.submit_job": "LivyOperator", "build_features.await_job": "LivyBatchSensor"},
              "contrail_inference": {"score_features.submit_job": "LivyOperator", "score_features.await_job": "LivyBatchSensor"}},
}


@pytest.mark.parametrize("profile", sorted(OFFICIAL))
def test_cloud_steps_use_the_official_provider_operators(profile):
    parsed = parse(CONTRAIL_PROFILE=profile, CONTRAIL_DATA_ROOT=ROOTS[profile])["operators"]
    for dag_id, expected in OFFICIAL[profile].items():
        assert {task: parsed[dag_id][task] for task in expected} == expected
