"""The azure profile's Spark steps run task by task against Azurite (the lake and the code container) and the Livy
twin (tests/livy_twin.py) as the HDInsight cluster's gateway: the job files really run (spark-submit --master
local) over the lake's data, and what they wrote is read back from the container."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from contrail import ingest, storage
from dag_checks import assert_features_published, assert_spark_job_failed_and_torn_down, champion, run_try, states

pytestmark = [pytest.mark.airflow, pytest.mark.spark]
DAYS = ["2013-07-15", "2013-07-16"]


def digest(frame) -> str:
    """An order-independent digest of a partition's rows."""
    rows = sorted(json.dumps(row, sort_keys=True, default=str) for row in frame.to_dict(orient="records"))
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def posted(azure, job: str) -> list[dict]:
    return [b for b in azure.posted() if b["file"].endswith(f"/spark_jobs/{job}.py")]


@pytest.fixture(scope="module")
def features_run(azure, azure_dags):
    for day in DAYS:
        ingest.land_many(list(ingest.TABLES), dt.date.fromisoformat(day))
    return azure_dags.get_dag("contrail_features").test(run_conf={"start": DAYS[0], "end": DAYS[-1]})


def test_features_run_as_a_livy_batch_on_the_hdinsight_gateway(azure, features_run):
    assert features_run.state == "success", states(features_run)
    assert all(states(features_run)[f"build_features.{slot}"] == "success"
               for slot in ("plan", "start_cluster", "submit_job", "await_job", "stop_cluster"))
    (body,) = posted(azure, "build_features")
    lake = storage.spark_uri("")
    assert body["file"] == f"{azure.code_uri}/spark_jobs/build_features.py"
    assert body["args"] == ["--raw", f"{lake}raw", "--validated", f"{lake}validated", "--features", f"{lake}features",
                            "--counts", f"{lake}features_counts", "--dates", ",".join(DAYS)]
    assert lake.startswith("abfss://contrail-azure-lake@devstoreaccount1.dfs.core.windows.net/")
    python = "/usr/bin/anaconda/envs/contrail/bin/python"  # the script action's environment, on the driver and executors
    assert body["conf"]["spark.yarn.appMasterEnv.PYSPARK_PYTHON"] == body["conf"]["spark.executorEnv.PYSPARK_PYTHON"] == python
    assert "contrail-digest=" in body["conf"]["spark.yarn.tags"] and "dag_id=contrail_features" in body["conf"]["spark.yarn.tags"]
    assert body["name"].startswith("contrail-build-features-20130715-20130716-")
    assert (body["driverMemory"], body["executorMemory"], body["numExecutors"], body["queue"]) == ("4g", "8g", 4, "default")
    posts = [r for r in azure.requests if r["method"] == "POST"]
    assert {r["path"] for r in posts} == {"/livy/batches"}  # HDInsight's prefix, from the connection's host
    assert all(r["headers"]["X-Requested-By"] == "contrail" for r in posts)
    assert azure.batches[0]["state"] == "success"
    from contrail.platforms.azure import reaper

    assert reaper.recorded()[body["name"]]["tags"] == {  # what the reaper reads back: Livy cannot say whose it is
        "contrail:dag_id": "contrail_features", "contrail:run_id": features_run.run_id, "contrail:step": "build_features",
        "contrail:days": ""}


def test_what_the_batch_wrote_is_read_back_from_the_container_and_equals_the_local_build(azure, features_run, spark, tmp_path):
    import lake_copy

    from spark_jobs import build_features

    assert_features_published(features_run, DAYS)
    assert storage.location("features").as_uri().startswith("abfs://contrail-azure-lake/")
    copy = tmp_path / "copy"
    lake_copy.download("abfs", "contrail-azure-lake", copy)  # the same inputs, built by the local Spark server
    local = f"file://{copy}/contrail-azure-lake/contrail"
    build_features.main(["--raw", f"{local}/raw", "--validated", f"{local}/validated", "--features", f"{tmp_path}/features",
                         "--counts", f"{tmp_path}/counts", "--dates", ",".join(DAYS)], spark=spark)
    import pandas as pd

    for day in DAYS:
        assert digest(storage.read_parquet(storage.location(f"features/dt={day}"))) == \
            digest(pd.read_parquet(tmp_path / f"features/dt={day}")), day


def test_a_dead_batch_fails_the_run_with_its_log_tail_and_publishes_nothing(azure, azure_dags, features_run, capfd):
    before = storage.partition_mtimes(storage.location("features"))[DAYS[0]]
    azure.fail_next = True
    run = azure_dags.get_dag("contrail_features").test(run_conf={"days": DAYS[:1]})
    text = "".join(capfd.readouterr())
    assert_spark_job_failed_and_torn_down(run)
    assert azure.batches[max(azure.batches)]["state"] == "dead"
    assert "the executors lost their shuffle files" in text  # the tail of the batch's log, in the task log
    assert "ended dead" in text and "/yarnui/hn/cluster/app/application_" in text  # its state and YARN page
    assert storage.partition_mtimes(storage.location("features"))[DAYS[0]] == before  # nothing partial published


def test_a_retried_submit_finds_the_batch_instead_of_posting_a_second(azure, azure_dags):
    from contrail.platforms import azure as platform
    from contrail.platforms.naming import Names

    names = Names("contrail_features", "build_features", "retry-test", (DAYS[0],))
    plan = platform.plan_spark("build_features", ["--dates", DAYS[0]], names)
    submit = azure_dags.get_dag("contrail_features").get_task("build_features.submit_job")
    first = run_try(submit, plan["submit_job"])
    again = run_try(submit, plan["submit_job"])
    assert first == again
    assert [b["name"] for b in azure.posted()].count(plan["submit_job"]["name"]) == 1  # no second batch
    azure.wait(first)


@pytest.mark.parametrize("setting, value, message", [
    ("CONTRAIL_AZURE_CODE_URI", "", "CONTRAIL_AZURE_CODE_URI is not set"),
    ("CONTRAIL_AZURE_CODE_URI", "abfs://nocode@devstoreaccount1.dfs.core.windows.net/x",
     "CONTRAIL_AZURE_CODE_URI names container 'nocode', which does not exist"),
    ("AIRFLOW_CONN_HDINSIGHT_LIVY", '{"conn_type": "livy", "login": "admin", "password": "p"}', "has no cluster URL"),
    ("AIRFLOW_CONN_HDINSIGHT_LIVY", '{"conn_type": "livy", "host": "https://c.azurehdinsight.net", "login": "a", "password": "p"}',
     "HDInsight serves Livy under /livy, set it to https://c.azurehdinsight.net/livy"),
    ("AIRFLOW_CONN_HDINSIGHT_LIVY", '{"conn_type": "livy", "host": "https://c.azurehdinsight.net/livy"}', "has no login or password"),
    ("CONTRAIL_HDINSIGHT_LIVY_CONN_ID", "nowhere", "the Airflow connection 'nowhere'"),
])
def test_a_missing_cluster_url_login_or_container_fails_the_plan_before_anything_starts(azure, monkeypatch, setting, value,
                                                                                         message):
    from contrail.config import ConfigError
    from contrail.platforms import azure as platform
    from contrail.platforms.naming import Names

    before = len(azure.requests)
    monkeypatch.setenv(setting, value)
    with pytest.raises(ConfigError, match=message):
        platform.plan_spark("build_features", ["--dates", DAYS[0]], Names("d", "build_features", "r", (DAYS[0],)))
    assert len(azure.requests) == before  # nothing was asked of the cluster


def test_the_gateway_refuses_a_request_without_the_cluster_login(azure):
    import requests

    answer = requests.get(f"{azure.url}/livy/batches", timeout=10)
    assert answer.status_code == 401  # the twin holds HDInsight's line: the product's calls above all carried the login


def test_scoring_runs_as_a_livy_batch_and_every_prediction_names_the_champion(azure, azure_dags, tmp_path):
    import synthetic_features as synthetic

    from contrail import scoring
    from contrail.registry import promotion
    from contrail.training import run, window

    name = "azure_scoring"  # not the training tests' model (tests/platforms/test_azure_training.py)
    with pytest.MonkeyPatch.context() as local:  # a champion trained in this process, on a local lake (training on
        local.setenv("CONTRAIL_PROFILE", "local")  # Azure ML is not built); the registry is the same MLflow
        local.setenv("CONTRAIL_DATA_ROOT", f"file://{tmp_path}/lake")
        days = synthetic.write_days("2013-09-01", 10)
        candidate = run.train(window.split(days), model_name=name)
        assert promotion.promote(name, candidate["version"])["promoted"]
    day = "2013-09-12"
    synthetic.write_days(day, 1)  # its features (and passed verdict) in the Azure lake
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CONTRAIL_MODEL_NAME", name)
        run_ = azure_dags.get_dag("contrail_inference").test(run_conf={"start": day, "end": day})
    assert run_.state == "success", states(run_)
    assert scoring.read_manifest(day)["model_version"] == str(candidate["version"])
    assert storage.parquet_rows(storage.location(f"predictions/dt={day}")) == storage.parquet_rows(storage.location(f"features/dt={day}"))
    body = posted(azure, "score_features")[-1]
    assert body["file"] == f"{azure.code_uri}/spark_jobs/score_features.py"
    threshold = float(champion(name).tags["contrail.threshold"])
    assert json.loads(body["args"][body["args"].index("--plan") + 1]) == {
        str(candidate["version"]): {"days": [day], "threshold": pytest.approx(threshold)}}
    assert body["args"][body["args"].index("--predictions") + 1] == storage.spark_uri("predictions")
