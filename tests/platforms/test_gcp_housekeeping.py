"""Housekeeping on the gcp profile, through the housekeeping DAG: lifecycle rules on the lake's bucket (on the
GCS emulator, which keeps them) and the reaper deleting the Dataproc clusters and cancelling the Vertex AI jobs
whose run has ended (on the peers), and nothing else."""

from __future__ import annotations

import datetime as dt

import pytest
from gcp_twin import CONN, LAKE, PROJECT, REGION

pytestmark = pytest.mark.airflow


def cluster(gcp, name: str, tags: dict[str, str]) -> str:
    """A running cluster that exists before the test, carrying these GCE metadata tags."""
    gcp.peer.add_cluster(name, PROJECT, REGION, config={"gce_cluster_config": {"metadata": tags}})
    return name


def custom_job(gcp, name: str, labels: dict[str, str], env: list[dict]) -> str:
    """A Vertex AI custom job that keeps running (held by the twin) until something cancels it."""
    from airflow.providers.google.cloud.hooks.vertex_ai.custom_job import CustomJobHook

    gcp.held.add(name)
    container = {"image_uri": "europe-docker.pkg.dev/x/y/training:1", "command": ["python"], "env": env}
    job = {"display_name": name, "labels": labels, "job_spec": {"worker_pool_specs": [
        {"machine_spec": {"machine_type": "n2-standard-4"}, "replica_count": 1, "container_spec": container}]}}
    client = CustomJobHook(gcp_conn_id=CONN).get_job_service_client(REGION)
    return client.create_custom_job(parent=f"projects/{PROJECT}/locations/{REGION}", custom_job=job).name


def test_the_housekeeping_dag_moves_old_raw_data_to_colder_classes_and_stops_only_orphans(gcp, gcp_dags):
    ended = gcp_dags.get_dag("contrail_ingest").test(logical_date=dt.datetime(2013, 6, 17, tzinfo=dt.timezone.utc))
    assert ended.state == "success"
    run_tags = {"contrail-tag-dag-id": "contrail_ingest", "contrail-tag-run-id": ended.run_id}
    orphan = cluster(gcp, "orphan", run_tags)
    gone = cluster(gcp, "gone", {"contrail-tag-dag-id": "contrail_features", "contrail-tag-run-id": "manual__never-ran"})
    mine = cluster(gcp, "someone-elses", {"team": "analytics"})
    env = [{"name": "CONTRAIL_TAG_DAG_ID", "value": "contrail_ingest"}, {"name": "CONTRAIL_TAG_RUN_ID", "value": ended.run_id}]
    orphan_job = custom_job(gcp, "orphan-job", {"contrail-dag-id": "contrail_ingest"}, env)
    their_job = custom_job(gcp, "their-job", {"team": "analytics"}, env)  # not Contrail's (no label): never touched
    bucket = gcp.hook().get_conn().get_bucket(LAKE)
    bucket.lifecycle_rules = [{"action": {"type": "Delete"}, "condition": {"age": 7, "matchesPrefix": ["tmp/"]}}]
    bucket.patch()
    for _ in range(2):  # the second run changes nothing: the rules are Contrail's to replace, the others kept
        run = gcp_dags.get_dag("contrail_housekeeping").test()
        assert run.state == "success"
    rules = [dict(r) for r in gcp.hook().get_conn().get_bucket(LAKE).lifecycle_rules]
    assert rules[0] == {"action": {"type": "Delete"}, "condition": {"age": 7, "matchesPrefix": ["tmp/"]}}
    assert [(r["action"]["storageClass"], r["condition"]["age"], r["condition"]["matchesPrefix"]) for r in rules[1:]] == [
        ("COLDLINE", 90, ["contrail/raw/"]), ("ARCHIVE", 365, ["contrail/raw/"])]
    deleted = [r.cluster_name for r in gcp.peer.calls("DeleteCluster")]
    assert deleted.count(orphan) == 1 and deleted.count(gone) == 1 and mine not in deleted
    assert gcp.peer.cluster(orphan).status.state.name == "DELETING"  # asked once; the reaper does not wait for it
    assert gcp.peer.cluster(mine).status.state.name == "RUNNING"
    cancelled = [r.name for r in gcp.vertex.calls("CancelCustomJob")]
    assert cancelled == [orphan_job] and their_job not in cancelled
    assert gcp.vertex.job("orphan-job").state.name in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")
    assert gcp.vertex.job("their-job").state.name in ("JOB_STATE_PENDING", "JOB_STATE_RUNNING")  # left alone
    assert gcp.vertex.last("ListCustomJobs").filter == "labels.contrail-dag-id:*"
    listed = gcp.peer.last("ListClusters")
    assert (listed.project_id, listed.region, listed.filter) == (PROJECT, REGION, "status.state = ACTIVE")
