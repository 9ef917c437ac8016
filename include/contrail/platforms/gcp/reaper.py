"""What ended runs left running on Google Cloud: Dataproc clusters whose run is over (its teardown never ran:
the worker died, the run was marked failed by hand). A cluster carries its run exactly in its GCE metadata
(labels cannot hold a run id), and the idle delete TTL stays the safety net behind this."""

from __future__ import annotations

from contrail.platforms.naming import TAG_PREFIX, Names, has_ended
from contrail.platforms.settings import Settings

META_PREFIX = "contrail-tag-"


def metadata(names: Names) -> dict[str, str]:
    """Contrail's tags as GCE metadata of the cluster's VMs (values of any characters)."""
    return {META_PREFIX + key[len(TAG_PREFIX):].replace("_", "-"): value for key, value in names.tags().items()}


def tags_of(meta: dict[str, str]) -> dict[str, str]:
    return {TAG_PREFIX + key[len(META_PREFIX):].replace("-", "_"): value for key, value in meta.items() if key.startswith(META_PREFIX)}


def reap(s: Settings, run_state) -> list[str]:
    from airflow.providers.google.cloud.hooks.dataproc import DataprocHook

    from contrail.platforms.gcp import account

    conn = account.connection(s)
    hook = DataprocHook(gcp_conn_id=conn["gcp_conn_id"])
    stopped = []
    for cluster in hook.list_clusters(region=conn["region"], filter_="status.state = ACTIVE", project_id=conn["project_id"]):
        tags = tags_of(dict(cluster.config.gce_cluster_config.metadata))
        if why := has_ended(run_state, tags):
            hook.delete_cluster(region=conn["region"], cluster_name=cluster.cluster_name, project_id=conn["project_id"])
            stopped.append(f"Dataproc cluster {cluster.cluster_name}: {why}")
    return stopped
