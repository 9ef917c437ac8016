"""The azure profile's reaper, run by the real housekeeping DAG: it kills the Livy batches (on the Livy twin) and
cancels the Azure ML jobs (on the ARM peer) whose run has ended or no longer exists, and nothing else; the batch
ledger in the lake (Azurite) forgets what Livy forgot."""

from __future__ import annotations

import time

import pytest
from test_azureml import COMMAND, peer, workspace  # noqa: F401  (the ARM peer's fixtures)

pytestmark = pytest.mark.airflow
GONE = {"contrail:dag_id": "contrail_features", "contrail:run_id": "manual__never-ran"}


def tags_of(run) -> dict[str, str]:
    return {"contrail:dag_id": run.dag_id, "contrail:run_id": run.run_id, "contrail:step": "build_features", "contrail:days": ""}


def batch(azure, name: str, state: str = "running", tags: dict | None = None, age_s: float = 0) -> int:
    """A batch on the cluster, recorded as the run `tags`' (as the submit task records it) unless tags is None."""
    from contrail.platforms.azure import reaper

    if tags is not None:
        reaper.record(name, tags, now=time.time() - age_s)
    return azure.add_batch(name, state) if state else -1


def job(name: str, tags: dict[str, str], end: str | None = None, workspace=None) -> str:  # noqa: F811
    from contrail_plugins.azureml.hook import AzureMLHook

    AzureMLHook().submit({**COMMAND, "name": name, "tags": tags})
    if end:
        workspace.finish(name, end)
        AzureMLHook().get_job(name)
    return name


def test_the_housekeeping_dag_stops_only_what_ended_runs_left_running(azure, azure_dags, workspace):  # noqa: F811
    from contrail.platforms.azure import reaper

    ended = azure_dags.get_dag("contrail_housekeeping").test()  # reaps nothing yet: a run that is over
    assert ended.state == "success"
    orphan = batch(azure, "contrail-build-features-20130601-aaaa0001", tags=tags_of(ended))
    gone = batch(azure, "contrail-score-features-20130601-aaaa0002", tags=GONE)
    theirs = batch(azure, "spark-sql-nightly")  # not Contrail's: no record
    batch(azure, "contrail-build-features-20130602-aaaa0003", state="success", tags=tags_of(ended))  # over already
    batch(azure, "contrail-build-features-20130501-aaaa0004", state="", tags=tags_of(ended), age_s=2 * reaper.KEEP_S)
    batch(azure, "contrail-build-features-20130502-aaaa0005", state="", tags=tags_of(ended))  # recorded just now
    job("contrail-training-train-orphan", tags_of(ended))
    job("contrail-training-train-done", tags_of(ended), end="Completed", workspace=workspace)
    job("analytics-experiment", {"team": "analytics"})

    run = azure_dags.get_dag("contrail_housekeeping").test()
    assert run.state == "success"
    assert azure.deleted() == [orphan, gone]
    assert azure.batches[orphan]["state"] == azure.batches[gone]["state"] == "killed"
    assert azure.batches[theirs]["state"] == "running"
    assert [call.path.rsplit("/", 2)[-2] for call in workspace.calls("cancel_job")] == ["contrail-training-train-orphan"]
    assert workspace.job("contrail-training-train-orphan")["properties"]["status"] in ("CancelRequested", "Canceled")
    assert workspace.job("analytics-experiment")["properties"]["status"] == "Starting"  # never read, never canceled
    assert {call.query.get("tag") for call in workspace.calls("list_jobs")} == {"contrail:dag_id"}
    left = reaper.recorded()
    assert "contrail-build-features-20130501-aaaa0004" not in left  # Livy forgot it a day ago: so does the ledger
    assert {"contrail-build-features-20130502-aaaa0005", "contrail-build-features-20130601-aaaa0001"} <= set(left)


def test_a_batch_or_job_of_a_running_run_is_left_alone(azure, workspace):  # noqa: F811
    from contrail.platforms.azure import reaper, settings

    running = {"contrail:dag_id": "contrail_features", "contrail:run_id": "scheduled__2013-06-03T00:00:00+00:00"}
    batch(azure, "contrail-build-features-20130603-bbbb0001", tags=running)
    job("contrail-training-train-running", running)
    states = {("contrail_features", running["contrail:run_id"]): "running"}
    before = len(azure.deleted())
    assert reaper.reap(settings.load(), lambda dag_id, run_id: states[(dag_id, run_id)]) == []
    assert len(azure.deleted()) == before and workspace.calls("cancel_job") == []
