"""What ended runs left running on Azure: Livy batches on the HDInsight cluster and Azure ML jobs (command and sweep)
still going for a run that is over (its worker died, the run was marked failed by hand, a retry gave up).

An Azure ML job carries the run's tags (naming.Names.tags()) and the workspace lists Contrail's jobs by the tag key.
A Livy batch carries nothing Livy gives back that names its run: GET /batches answers id, name, state and appId but
never the conf, and YARN lowercases application tags. So the task that submits a batch first records its run in the
lake under the batch's name (`_platform/hdinsight/batches/<name>.json`, written by hdinsight.find_batch), and the
reaper reads it back. A record goes once Livy has forgotten its batch and it is a day old. Livy's session timeout and
an Azure ML job's `limits.timeout` stay the safety nets.
"""

from __future__ import annotations

import json
import time

from contrail.platforms.naming import TAG_PREFIX, has_ended
from contrail.platforms.settings import Settings

LEDGER = "_platform/hdinsight/batches"
LIVE = ("not_started", "starting", "recovering", "idle", "running", "busy")  # Livy's states of a batch not yet over
KEEP_S = 86_400  # a record outlives its batch by a day at least (a submit between record and POST is seconds)


def _folder():
    from contrail import storage

    return storage.location(LEDGER)


def record(name: str, tags: dict[str, str], now: float | None = None) -> None:
    """Record that the batch `name` about to be submitted belongs to the run in `tags`."""
    (_folder() / f"{name}.json").write_text(json.dumps({"batch": name, "tags": tags, "recorded": now or time.time()}))


def recorded() -> dict[str, dict]:
    """Every record of the ledger, by batch name."""
    try:
        files = [f for f in _folder().iterdir() if f.name.endswith(".json")]
    except (FileNotFoundError, NotADirectoryError):  # no record yet (a blob prefix exists once a blob does)
        return {}
    return {(found := json.loads(f.read_text()))["batch"]: found for f in files}


def reap_batches(s: Settings, run_state) -> list[str]:
    """Kill the live batches whose recorded run has ended; forget the records of batches Livy no longer knows."""
    from contrail.platforms.azure import hdinsight

    request = hdinsight.livy(s)
    hook, known, ledger = hdinsight.hook(request), hdinsight.batches(request), recorded()
    stopped = []
    for batch in known:
        entry = ledger.get(batch.get("name"))
        if entry and batch.get("state") in LIVE and (why := has_ended(run_state, entry["tags"])):
            hook.delete_batch(batch["id"])
            stopped.append(f"Livy batch {batch['id']} {batch['name']}: {why}")
    names = {batch.get("name") for batch in known}
    for name, entry in ledger.items():
        if name not in names and entry["recorded"] < time.time() - KEEP_S:
            (_folder() / f"{name}.json").unlink()
    return stopped


def reap_jobs(s: Settings, run_state) -> list[str]:
    """Cancel the Azure ML jobs (Contrail's, by tag) not yet ended whose run has ended."""
    from contrail_plugins.azureml.hook import ENDED, AzureMLHook

    hook = AzureMLHook(s.need("azureml_conn_id"))
    stopped = []
    for job in hook.list_jobs(tag=f"{TAG_PREFIX}dag_id"):
        if job["status"] not in ENDED and (why := has_ended(run_state, job["tags"])):
            hook.cancel(job["name"])
            stopped.append(f"Azure ML {job['type']} job {job['name']}: {why}")
    return stopped


def reap(s: Settings, run_state) -> list[str]:
    return reap_batches(s, run_state) + reap_jobs(s, run_state)
