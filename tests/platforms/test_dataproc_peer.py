"""The Dataproc peer (tests/dataproc_peer.py) against the google provider's real operators, hooks and triggers:
what they send arrives decoded and equal, and the states the peer plays are what the operators act on."""

from __future__ import annotations

import pytest
from dataproc_peer import DataprocPeer
from gcp_binding import bound, operator_context, resume
from google.api_core.exceptions import AlreadyExists, NotFound
from google.cloud import dataproc_v1 as dp

from airflow.providers.common.compat.sdk import AirflowException, TaskDeferred
from airflow.providers.google.cloud.hooks.dataproc import DataprocHook
from airflow.providers.google.cloud.links.dataproc import DataprocClusterLink
from airflow.providers.google.cloud.operators import dataproc as ops
from airflow.version import version as airflow_version

PROJECT, REGION, CLUSTER = "contrail-test", "europe-west1", "contrail-cluster-1"
WHERE = {"project_id": PROJECT, "region": REGION}
POLICY = f"projects/{PROJECT}/regions/{REGION}/autoscalingPolicies/contrail-secondary-workers"
CONFIG = {
    "master_config": {"num_instances": 1, "machine_type_uri": "n2-standard-4"},
    "worker_config": {"num_instances": 2, "machine_type_uri": "n2-standard-4"},
    "secondary_worker_config": {"num_instances": 2, "machine_type_uri": "n2-standard-4", "preemptibility": "SPOT"},
    "software_config": {"image_version": "2.3-debian12", "properties": {"spark:spark.sql.shuffle.partitions": "4"}},
    "lifecycle_config": {"idle_delete_ttl": {"seconds": 1800}},
    "autoscaling_config": {"policy_uri": POLICY},
}
PYSPARK = {"main_python_file_uri": "gs://code/contrail/spark_jobs/build_features.py",
           "args": ["--dates", "2013-05-01,2013-05-02"], "properties": {"spark.sql.shuffle.partitions": "4"}}
JOB = {"reference": {"job_id": "build-features-1"}, "placement": {"cluster_name": CLUSTER}, "pyspark_job": PYSPARK}
BATCH = {"pyspark_batch": {"main_python_file_uri": PYSPARK["main_python_file_uri"], "args": PYSPARK["args"]},
         "runtime_config": {"version": "2.3", "properties": PYSPARK["properties"]}}


@pytest.fixture
def peer(monkeypatch):
    with DataprocPeer() as peer, bound(peer, monkeypatch):
        yield peer
    assert peer.errors == []


def create(**kwargs):
    return ops.DataprocCreateClusterOperator(task_id="start_cluster", cluster_name=CLUSTER, cluster_config=CONFIG,
                                             labels={"team": "contrail"}, polling_interval_seconds=1, **WHERE, **kwargs)


def submit(job=JOB, **kwargs):
    return ops.DataprocSubmitJobOperator(task_id="submit_job", job=job, polling_interval_seconds=1, **WHERE, **kwargs)


def failing(job):
    return "ERROR", "Job failed with message [ZeroDivisionError]", "gs://staging/driveroutput"


def test_create_cluster_sends_the_config_waits_for_its_operation_and_persists_the_link(peer):
    context = operator_context()
    cluster = create(request_id="contrail-create").execute(context)

    assert cluster["status"]["state"] == dp.ClusterStatus.State.RUNNING and cluster["cluster_name"] == CLUSTER
    assert peer.methods() == ["CreateCluster", "GetOperation", "GetOperation", "GetCluster"]
    request = peer.last("CreateCluster")
    assert (request.project_id, request.region, request.request_id) == (PROJECT, REGION, "contrail-create")
    sent = peer.created_cluster(CLUSTER)
    assert sent == dp.Cluster(project_id=PROJECT, cluster_name=CLUSTER, config=CONFIG,
                              labels={"team": "contrail", "airflow-version": "v" + airflow_version.replace(".", "-")})
    assert sent.config.secondary_worker_config.preemptibility == dp.InstanceGroupConfig.Preemptibility.SPOT
    assert sent.config.autoscaling_config.policy_uri == POLICY
    assert sent.config.lifecycle_config.idle_delete_ttl.total_seconds() == 1800
    assert context["ti"].xcom[DataprocClusterLink.key] == {"cluster_id": CLUSTER, "project_id": PROJECT, "region": REGION}


def test_an_existing_cluster_is_already_exists_and_reused_but_a_repeated_request_id_is_the_same_operation(peer):
    hook = DataprocHook()
    first = hook.create_cluster(cluster_name=CLUSTER, cluster_config=CONFIG, request_id="contrail-create", **WHERE)
    cluster = hook.wait_for_operation(first)
    again = hook.create_cluster(cluster_name=CLUSTER, cluster_config=CONFIG, request_id="contrail-create", **WHERE)
    assert again.operation.name == first.operation.name and again.done()
    with pytest.raises(AlreadyExists, match=CLUSTER):
        hook.create_cluster(cluster_name=CLUSTER, cluster_config=CONFIG, **WHERE)

    del peer.requests[:]
    reused = create().execute(operator_context())  # use_if_exists: AlreadyExists, then GetCluster
    assert peer.methods() == ["CreateCluster", "GetCluster"]
    assert reused["cluster_uuid"] == cluster.cluster_uuid


def test_deferrable_create_cluster_defers_while_creating_and_its_trigger_sees_it_running(peer):
    operator, context = create(deferrable=True), operator_context()
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)
    assert peer.methods() == ["CreateCluster", "GetCluster"] and peer.calls("GetCluster")[0].cluster_name == CLUSTER

    cluster = resume(operator, context, deferred.value)
    assert cluster["status"]["state"] == dp.ClusterStatus.State.RUNNING and peer.methods()[-1] == "GetCluster"


@pytest.mark.parametrize("player,raised", [(None, None), (failing, "Job failed")])
def test_submit_job_waits_for_the_player_s_end(peer, player, raised):
    peer.add_cluster(CLUSTER, PROJECT, REGION)
    seen = []
    peer.player = lambda job: seen.append(job) or (player(job) if player else "DONE")
    operator = submit(request_id="contrail-submit")
    if raised:
        with pytest.raises(AirflowException, match=raised):
            operator.execute(operator_context())
    else:
        assert operator.execute(operator_context()) == "build-features-1"

    request = peer.last("SubmitJob")
    assert (request.project_id, request.region, request.request_id) == (PROJECT, REGION, "contrail-submit")
    assert peer.submitted_job("build-features-1") == dp.Job(JOB)
    assert seen[0].pyspark_job.args == PYSPARK["args"] and seen[0].placement.cluster_name == CLUSTER
    assert peer.methods() == ["SubmitJob", "GetJob", "GetJob"]
    job = peer.job("build-features-1")
    assert [s.state.name for s in job.status_history] == ["PENDING", "RUNNING"]
    if raised:
        assert (job.status.state.name, job.status.details) == ("ERROR", failing(None)[1])
        assert job.driver_output_resource_uri == "gs://staging/driveroutput"
    else:
        assert job.status.state.name == "DONE" and job.driver_output_resource_uri.endswith("/driveroutput")


@pytest.mark.parametrize("player", [None, failing])
def test_deferrable_submit_job_defers_and_its_trigger_brings_the_end(peer, player):
    peer.add_cluster(CLUSTER, PROJECT, REGION)
    peer.player = player or peer.player
    operator, context = submit(deferrable=True), operator_context()
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)
    assert peer.methods() == ["SubmitJob", "GetJob"]
    assert type(deferred.value.trigger).__name__ == "DataprocSubmitTrigger"

    if player:
        with pytest.raises(AirflowException, match="build-features-1 failed"):
            resume(operator, context, deferred.value)
    else:
        assert resume(operator, context, deferred.value) == "build-features-1"
    assert peer.methods() == ["SubmitJob", "GetJob", "GetJob"]  # the trigger's read, over grpc.aio


def test_submit_job_honours_request_id_refuses_a_second_job_id_and_needs_a_running_cluster(peer):
    hook = DataprocHook()
    with pytest.raises(NotFound, match=CLUSTER):
        hook.submit_job(job=JOB, **WHERE)
    peer.add_cluster(CLUSTER, PROJECT, REGION)
    first = hook.submit_job(job=JOB, request_id="once", **WHERE)
    assert hook.submit_job(job=JOB, request_id="once", **WHERE).job_uuid == first.job_uuid
    with pytest.raises(AlreadyExists, match="build-features-1"):
        hook.submit_job(job=JOB, request_id="twice", **WHERE)
    unnamed = hook.submit_job(job={**JOB, "reference": {}}, **WHERE)
    assert unnamed.reference.job_id and unnamed.reference.project_id == PROJECT

    running = hook.submit_job(job={**JOB, "reference": {"job_id": "cancelled"}}, **WHERE)  # unread: still PENDING
    assert hook.cancel_job(job_id=running.reference.job_id, **WHERE).status.state.name == "CANCELLED"
    with pytest.raises(Exception, match="cancelled is CANCELLED"):
        hook.cancel_job(job_id="cancelled", **WHERE)
    client = hook.get_job_client(REGION)
    listed = lambda **request: sorted(j.reference.job_id for j in client.list_jobs(request={**WHERE, **request}))  # noqa: E731
    assert listed(filter="status.state = ACTIVE") == sorted([first.reference.job_id, unnamed.reference.job_id])
    assert listed(job_state_matcher="NON_ACTIVE") == ["cancelled"] and listed(cluster_name="other") == []


@pytest.mark.parametrize("deferrable", [False, True])
def test_delete_cluster_waits_until_it_is_gone(peer, deferrable):
    create().execute(operator_context())
    operator, context = ops.DataprocDeleteClusterOperator(
        task_id="stop_cluster", cluster_name=CLUSTER, deferrable=deferrable, polling_interval_seconds=1, **WHERE), \
        operator_context()
    del peer.requests[:]
    if deferrable:
        with pytest.raises(TaskDeferred) as deferred:
            operator.execute(context)
        resume(operator, context, deferred.value)  # raises unless the trigger saw NotFound
        assert peer.methods() == ["DeleteCluster", "GetCluster", "GetCluster"]
    else:
        operator.execute(context)
        assert peer.methods() == ["DeleteCluster", "GetOperation", "GetOperation"]
    assert peer.last("DeleteCluster").cluster_name == CLUSTER and peer.cluster(CLUSTER) is None
    operator.execute(context)  # a cluster already gone: NotFound, which the operator takes as done


@pytest.mark.parametrize("deferrable", [False, True])
@pytest.mark.parametrize("player", [None, failing])
def test_create_batch_runs_to_the_player_s_end(peer, player, deferrable):
    peer.player = player or peer.player
    operator, context = ops.DataprocCreateBatchOperator(
        task_id="score", batch=BATCH, batch_id="contrail-batch-1", request_id="contrail-batch", deferrable=deferrable,
        polling_interval_seconds=1, **WHERE), operator_context()

    def run():
        if not deferrable:
            return operator.execute(context)
        with pytest.raises(TaskDeferred) as deferred:
            operator.execute(context)
        return resume(operator, context, deferred.value)

    if player:
        with pytest.raises(AirflowException, match="contrail-batch-1 failed with error: Job failed with message"):
            run()
    else:
        run()
    request = peer.last("CreateBatch")
    assert (request.parent, request.batch_id, request.request_id) == (
        f"projects/{PROJECT}/regions/{REGION}", "contrail-batch-1", "contrail-batch")
    sent = peer.created_batch("contrail-batch-1")
    assert sent.pyspark_batch == dp.PySparkBatch(BATCH["pyspark_batch"])
    assert sent.runtime_config == dp.RuntimeConfig(BATCH["runtime_config"])
    assert sent.labels["airflow-task-id"] == "score"
    batch = peer.batch("contrail-batch-1")
    assert batch.state.name == ("FAILED" if player else "SUCCEEDED")
    assert peer.methods() == ["CreateBatch", "GetBatch", "GetBatch"]


def test_list_filters_and_the_batch_lifecycle(peer):
    create().execute(operator_context())
    peer.add_cluster("stopped", PROJECT, REGION, state="STOPPED")
    hook = DataprocHook()
    listed = lambda f: sorted(c.cluster_name for c in hook.list_clusters(filter_=f, **WHERE))  # noqa: E731
    assert listed("status.state = ACTIVE") == [CLUSTER]
    assert listed("status.state = INACTIVE") == ["stopped"]
    assert listed(f"clusterName = {CLUSTER} AND labels.team = contrail") == [CLUSTER]
    assert listed("labels.team = *") == [CLUSTER] and listed("") == [CLUSTER, "stopped"]
    assert peer.last("ListClusters").filter == ""
    with pytest.raises(Exception, match="does not filter clusters on 'zone'"):
        listed("zone = b")

    hook.create_batch(batch=BATCH, batch_id="b-1", **WHERE)
    assert [b.name for b in hook.list_batches(filter="batch_id = b-1", **WHERE)] == [
        f"projects/{PROJECT}/locations/{REGION}/batches/b-1"]
    assert hook.wait_for_batch(batch_id="b-1", **WHERE).state.name == "SUCCEEDED"
    hook.delete_batch(batch_id="b-1", **WHERE)
    with pytest.raises(NotFound):
        hook.get_batch(batch_id="b-1", **WHERE)


def test_no_credentials_are_looked_up_and_no_google_endpoint_is_dialled(peer, monkeypatch):
    from google.auth.credentials import AnonymousCredentials

    monkeypatch.setenv("AIRFLOW_CONN_REAL_GCP", '{"conn_type": "google_cloud_platform"}')
    with pytest.raises(RuntimeError, match="'real_gcp' is not anonymous"):
        DataprocHook(gcp_conn_id="real_gcp").project_id
    assert DataprocHook().project_id == "test"
    with pytest.raises(RuntimeError, match="europe-west1-dataproc.googleapis.com:443.*only the peer"):
        dp.JobControllerClient(credentials=AnonymousCredentials(),
                               client_options={"api_endpoint": "europe-west1-dataproc.googleapis.com:443"})
    with pytest.raises(Exception, match="does not implement /google.cloud.dataproc.v1.WorkflowTemplateService/"):
        DataprocHook().get_template_client(REGION).get_workflow_template(name="projects/p/regions/r/workflowTemplates/t")


def test_an_asynchronous_submit_and_the_sensors_poke_until_the_end(peer):
    from airflow.providers.google.cloud.sensors.dataproc import DataprocBatchSensor, DataprocJobSensor

    peer.add_cluster(CLUSTER, PROJECT, REGION)
    assert submit(asynchronous=True).execute(operator_context()) == "build-features-1"
    job = DataprocJobSensor(task_id="await_job", dataproc_job_id="build-features-1", **WHERE)
    assert [job.poke(operator_context()), job.poke(operator_context())] == [False, True]
    peer.player = failing
    ops.DataprocCreateBatchOperator(task_id="score", batch=BATCH, batch_id="b-2", asynchronous=True,
                                    **WHERE).execute(operator_context())
    with pytest.raises(AirflowException, match="Batch failed"):  # the operator's own GetBatch saw it RUNNING
        DataprocBatchSensor(task_id="await_batch", batch_id="b-2", **WHERE).poke(operator_context())
    assert peer.methods() == ["SubmitJob", "GetJob", "GetJob", "CreateBatch", "GetBatch", "GetBatch"]


def test_bound_without_a_monkeypatch_ends_with_its_block():
    real = DataprocHook.get_job_client
    with DataprocPeer() as peer, bound(peer, conn_id="peer_gcp", project="p"):
        assert DataprocHook.get_job_client is not real
        assert DataprocHook(gcp_conn_id="peer_gcp").project_id == "p"
    assert DataprocHook.get_job_client is real
