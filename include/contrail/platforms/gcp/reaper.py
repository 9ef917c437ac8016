"""What ended runs left running on Google Cloud: Dataproc clusters whose run is over (its teardown never ran:
the worker died, the run was marked failed by hand), and Vertex AI custom and tuning jobs still running for a
run that ended. Labels cannot hold a run id, so a cluster carries its run exactly in its GCE metadata and a
job in its container's environment; the idle delete TTL and the jobs' longest run stay the safety nets."""

from __future__ import annotations

from contrail.platforms.naming import TAG_PREFIX, Names, has_ended
from contrail.platforms.settings import Settings

META_PREFIX = "contrail-tag-"
ENV_PREFIX = "CONTRAIL_TAG_"
ENDED_JOBS = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"}


def metadata(names: Names) -> dict[str, str]:
    """Contrail's tags as GCE metadata of the cluster's VMs (values of any characters)."""
    return {META_PREFIX + key[len(TAG_PREFIX):].replace("_", "-"): value for key, value in names.tags().items()}


def tags_of(meta: dict[str, str]) -> dict[str, str]:
    return {TAG_PREFIX + key[len(META_PREFIX):].replace("-", "_"): value for key, value in meta.items() if key.startswith(META_PREFIX)}


def environment(names: Names) -> list[dict[str, str]]:
    """Contrail's tags as a Vertex AI container's environment (values of any characters)."""
    return [{"name": ENV_PREFIX + key[len(TAG_PREFIX):].upper(), "value": value} for key, value in names.tags().items()]


def tags_of_environment(env) -> dict[str, str]:
    return {TAG_PREFIX + e.name[len(ENV_PREFIX):].lower(): e.value for e in env if e.name.startswith(ENV_PREFIX)}


def reap_jobs(conn: dict, run_state) -> list[str]:
    """Cancel the Vertex AI custom and tuning jobs (Contrail's, by label) still running for a run that ended."""
    from contrail.platforms.gcp import vertex

    client = vertex.job_service(conn)
    query = {"parent": vertex.parent(conn), "filter": "labels.contrail-dag-id:*"}
    kinds = (("custom job", client.list_custom_jobs, client.cancel_custom_job, lambda j: j.job_spec),
             ("tuning job", client.list_hyperparameter_tuning_jobs, client.cancel_hyperparameter_tuning_job,
              lambda j: j.trial_job_spec))
    stopped = []
    for kind, listing, cancel, spec in kinds:
        for job in listing(request=query):
            pools = spec(job).worker_pool_specs
            tags = tags_of_environment(pools[0].container_spec.env) if pools else {}
            if job.state.name not in ENDED_JOBS and (why := has_ended(run_state, tags)):
                cancel(name=job.name)
                stopped.append(f"Vertex AI {kind} {job.display_name}: {why}")
    return stopped


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
    return stopped + reap_jobs(conn, run_state)
