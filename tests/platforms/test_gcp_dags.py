"""The gcp profile's DAGs run task by task against the GCS emulator (the lake and the code bucket) and the
Dataproc peer, the twin playing each job on the local Spark server: an ephemeral cluster per run for the
features job, torn down whatever the job did, and what the job wrote read back from the bucket."""

from __future__ import annotations

import datetime as dt

import pytest
from contrail import ingest, storage
from dag_checks import (
    assert_features_published,
    assert_spark_job_failed_and_torn_down,
    run_try,
    states,
)
from gcp_twin import CODE, CODE_URI, DATAPROC_SA, LAKE, PROJECT, REGION

pytestmark = [pytest.mark.airflow, pytest.mark.spark]
DAYS = ["2013-06-10", "2013-06-11"]


def clusters_of(gcp, run) -> list:
    """The clusters the peer was asked to create for a run (their GCE metadata carries the run exactly)."""
    return [r.cluster for r in gcp.peer.calls("CreateCluster")
            if r.cluster.config.gce_cluster_config.metadata.get("contrail-tag-run-id") == run.run_id]


@pytest.fixture(scope="module")
def features_run(gcp, gcp_dags):
    for day in DAYS:
        ingest.land_many(list(ingest.TABLES), dt.date.fromisoformat(day))
    return gcp_dags.get_dag("contrail_features").test(run_conf={"start": DAYS[0], "end": DAYS[-1]})


def test_features_run_on_an_ephemeral_dataproc_cluster_that_is_torn_down(gcp, features_run):
    assert features_run.state == "success", states(features_run)
    assert all(states(features_run)[f"build_features.{slot}"] == "success"
               for slot in ("plan", "start_cluster", "submit_job", "await_job", "stop_cluster"))
    (cluster,) = clusters_of(gcp, features_run)
    create = gcp.peer.last("CreateCluster")
    assert (create.project_id, create.region) == (PROJECT, REGION)
    config = cluster.config
    assert config.secondary_worker_config.preemptibility.name == "SPOT"
    assert config.secondary_worker_config.num_instances == 2 and config.worker_config.num_instances == 2
    assert config.autoscaling_config.policy_uri.endswith(f"/regions/{REGION}/autoscalingPolicies/contrail-secondary-workers")
    assert config.lifecycle_config.idle_delete_ttl.total_seconds() == 1800
    assert [a.executable_file for a in config.initialization_actions] == [f"{CODE_URI}/bootstrap/dataproc-python.sh"]
    assert gcp.hook().exists(bucket_name=CODE, object_name="contrail/test/bootstrap/dataproc-python.sh")  # deploy put it there
    assert config.gce_cluster_config.service_account == DATAPROC_SA
    assert cluster.labels["contrail-dag-id"] == "contrail_features" and cluster.labels["contrail-step"] == "build_features"
    deleted = [r.cluster_name for r in gcp.peer.calls("DeleteCluster")]
    assert deleted.count(cluster.cluster_name) == 1 and gcp.peer.cluster(cluster.cluster_name) is None  # the teardown ran
    job = next(j for j in map(lambda r: r.job, gcp.peer.calls("SubmitJob")) if j.placement.cluster_name == cluster.cluster_name)
    lake = f"gs://{LAKE}/contrail"
    assert job.pyspark_job.main_python_file_uri == f"{CODE_URI}/spark_jobs/build_features.py"
    assert list(job.pyspark_job.args) == ["--raw", f"{lake}/raw", "--validated", f"{lake}/validated", "--features",
                                          f"{lake}/features", "--counts", f"{lake}/features_counts", "--dates", ",".join(DAYS)]
    assert job.reference.job_id.startswith("contrail-") and job.labels["contrail-run-id"] == cluster.labels["contrail-run-id"]


def test_what_the_dataproc_job_wrote_is_read_back_from_the_bucket(gcp, features_run):
    assert_features_published(features_run, DAYS)
    assert storage.location("features").as_uri().startswith(f"gs://{LAKE}/")


def test_a_failed_job_still_deletes_the_cluster_fails_the_run_and_shows_the_driver_output(gcp, gcp_dags, features_run, capfd):
    gcp.fail_jobs = True
    try:
        run = gcp_dags.get_dag("contrail_features").test(run_conf={"days": DAYS[:1]})
    finally:
        gcp.fail_jobs = False
    text = "".join(capfd.readouterr())
    assert_spark_job_failed_and_torn_down(run)
    (cluster,) = clusters_of(gcp, run)
    assert gcp.peer.cluster(cluster.cluster_name) is None  # deleted all the same
    assert "the executors lost their shuffle files" in text  # the tail of the job's driver output in the bucket
    assert "console.cloud.google.com/dataproc/jobs/" in text and f"project={PROJECT}" in text  # and its console page


def test_a_retried_create_or_submit_reattaches_instead_of_starting_a_second_cluster_or_job(gcp, gcp_dags):
    from contrail.platforms import gcp as platform
    from contrail.platforms.naming import Names

    names = Names("contrail_features", "build_features", "retry-test", (DAYS[0],))
    plan = platform.plan_spark("build_features", ["--dates", DAYS[0]], names)
    dag = gcp_dags.get_dag("contrail_features")
    create, submit = dag.get_task("build_features.start_cluster"), dag.get_task("build_features.submit_job")
    name = plan["start_cluster"]["cluster_name"]
    first = run_try(create, plan["start_cluster"])
    again = run_try(create, plan["start_cluster"])  # the second try finds the cluster the first made
    assert first["cluster_uuid"] == again["cluster_uuid"] == gcp.peer.cluster(name).cluster_uuid
    assert gcp.peer.cluster(name).status.state.name == "RUNNING"
    assert len({r.request_id for r in gcp.peer.calls("CreateCluster") if r.cluster.cluster_name == name}) == 1
    first = run_try(submit, plan["submit_job"])
    again = run_try(submit, plan["submit_job"])
    assert first == again == plan["submit_job"]["job"]["reference"]["job_id"]
    assert [r.job.reference.job_id for r in gcp.peer.calls("SubmitJob")].count(first) == 1  # no second job
    run_try(dag.get_task("build_features.stop_cluster"), plan["stop_cluster"])
    assert gcp.peer.cluster(name) is None


@pytest.mark.parametrize("setting, value, message", [
    ("CONTRAIL_GCP_PROJECT", "", "no Google Cloud project: set CONTRAIL_GCP_PROJECT"),
    ("CONTRAIL_GCP_REGION", "", "CONTRAIL_GCP_REGION"),
    ("CONTRAIL_GCP_CODE_URI", "gs://no-such-code/contrail", "CONTRAIL_GCP_CODE_URI names bucket 'no-such-code', which does not exist"),
    ("CONTRAIL_DATAPROC_SERVICE_ACCOUNT", "dataproc-worker", "CONTRAIL_DATAPROC_SERVICE_ACCOUNT='dataproc-worker': expected a service account e-mail"),
    ("CONTRAIL_DATAPROC_MODE", "gke", "CONTRAIL_DATAPROC_MODE='gke': choose one of cluster, serverless"),
])
def test_a_missing_project_region_bucket_or_service_account_fails_the_plan_before_anything_starts(gcp, monkeypatch, setting,
                                                                                                     value, message):
    from contrail.config import ConfigError
    from contrail.platforms import gcp as platform
    from contrail.platforms.naming import Names

    before = len(gcp.peer.requests)
    monkeypatch.setenv(setting, value)
    monkeypatch.setenv("AIRFLOW_CONN_GCP_TEST", '{"conn_type": "google_cloud_platform", "extra": {"is_anonymous": true}}')
    with pytest.raises(ConfigError, match=message):
        platform.plan_spark("build_features", ["--dates", DAYS[0]], Names("d", "build_features", "r", (DAYS[0],)))
    assert len(gcp.peer.requests) == before  # nothing was asked of Dataproc


def test_the_same_job_runs_as_a_dataproc_serverless_batch_without_a_cluster(gcp, features_run, monkeypatch):
    import os

    from airflow.dag_processing.dagbag import DagBag

    image = f"{REGION}-docker.pkg.dev/{PROJECT}/contrail/dataproc-serverless:test"
    monkeypatch.setenv("CONTRAIL_DATAPROC_MODE", "serverless")
    monkeypatch.setenv("CONTRAIL_DATAPROC_CONTAINER_IMAGE", image)
    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag("contrail_features")  # the mode picks operators
    for task in dag.tasks:
        task.retries = 0
    before = storage.partition_mtimes(storage.location("features_counts"))[DAYS[1]]
    run = dag.test(run_conf={"days": DAYS[1:]})
    assert run.state == "success", states(run)
    assert dag.get_task("build_features.submit_job").operator_name == "DataprocCreateBatchOperator"
    assert clusters_of(gcp, run) == []  # no cluster for a serverless batch
    assert storage.partition_mtimes(storage.location("features_counts"))[DAYS[1]] > before  # rebuilt, read back from GCS
    batch = gcp.peer.created_batch()
    assert batch.pyspark_batch.main_python_file_uri == f"{CODE_URI}/spark_jobs/build_features.py"
    assert list(batch.pyspark_batch.args)[-2:] == ["--dates", DAYS[1]]
    assert batch.runtime_config.container_image == image
    assert batch.environment_config.execution_config.service_account == DATAPROC_SA
    assert batch.labels["contrail-step"] == "build_features"
    assert gcp.peer.batch(gcp.peer.last("CreateBatch").batch_id).state.name == "SUCCEEDED"
