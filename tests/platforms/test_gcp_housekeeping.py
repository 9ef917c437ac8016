"""Housekeeping on the gcp profile, through the housekeeping DAG: lifecycle rules on the lake's bucket (on the
GCS emulator, which keeps them) and the reaper deleting the Dataproc clusters whose run has ended (on the
Dataproc peer), and nothing else."""

from __future__ import annotations

import datetime as dt

import pytest
from gcp_twin import LAKE, PROJECT, REGION

pytestmark = pytest.mark.airflow


def cluster(gcp, name: str, tags: dict[str, str]) -> str:
    """A running cluster that exists before the test, carrying these GCE metadata tags."""
    gcp.peer.add_cluster(name, PROJECT, REGION, config={"gce_cluster_config": {"metadata": tags}})
    return name


def test_the_housekeeping_dag_moves_old_raw_data_to_colder_classes_and_deletes_only_orphaned_clusters(gcp, gcp_dags):
    ended = gcp_dags.get_dag("contrail_ingest").test(logical_date=dt.datetime(2013, 6, 17, tzinfo=dt.timezone.utc))
    assert ended.state == "success"
    run_tags = {"contrail-tag-dag-id": "contrail_ingest", "contrail-tag-run-id": ended.run_id}
    orphan = cluster(gcp, "orphan", run_tags)
    gone = cluster(gcp, "gone", {"contrail-tag-dag-id": "contrail_features", "contrail-tag-run-id": "manual__never-ran"})
    mine = cluster(gcp, "someone-elses", {"team": "analytics"})
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
    listed = gcp.peer.last("ListClusters")
    assert (listed.project_id, listed.region, listed.filter) == (PROJECT, REGION, "status.state = ACTIVE")
