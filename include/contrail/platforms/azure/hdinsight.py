"""Spark on HDInsight through its Livy endpoint: the batch request (pure), and the run-time helpers the operators
are given: check the cluster, re-attach to a batch, explain a failure, the console page.

The cluster is long-lived (HDInsight bills it while it exists; the provider has no operator to create one). Its
Python environment comes from a script action (deploy/azure/hdinsight-python.sh, uploaded with the code and run
on every node when the cluster is created or scaled): a conda environment holding the lock's pins of what the
executors import, which every batch names as PYSPARK_PYTHON. Why a script action and not a packed archive: a
packed environment is uploaded and unpacked on every batch (hundreds of MB for mlflow + LightGBM), the script
action once per node.

HDInsight's specifics: the Livy API sits under `/livy` on the cluster's gateway, which wants the cluster login as
basic auth, and Livy's CSRF protection wants `X-Requested-By` on every POST and DELETE. The prefix goes into the
connection's host (`https://CLUSTER.azurehdinsight.net/livy`), not into `livy_endpoint_prefix`: provider 4.6.4's
deferral drops that argument and its async hook applies it twice, so only the host form reaches the same URL from
the worker and from the triggerer.
"""

from __future__ import annotations

from urllib.parse import urlparse

from contrail.config import ConfigError
from contrail.platforms import cost
from contrail.platforms.naming import Names
from contrail.platforms.settings import Settings
from contrail.spark.conf import JOB_CONF

HEADERS = {"X-Requested-By": "contrail"}
FAILED = ("dead", "killed", "error")
HEAD_NODES = 2  # HDInsight clusters have two head nodes


def livy(s: Settings) -> dict:
    """{"livy_conn_id", "extra_headers"} of every Livy call; the connection must name the gateway and its login."""
    from contrail.platforms.settings import connection

    conn_id = s.need("livy_conn_id")
    conn = connection(conn_id, "CONTRAIL_HDINSIGHT_LIVY_CONN_ID", f"Key Vault secret airflow-connections-{conn_id}")
    host = conn.host or ""
    if "://" not in host:
        raise ConfigError(f"the Livy connection {conn_id!r} (CONTRAIL_HDINSIGHT_LIVY_CONN_ID) has no cluster URL: set its host "
                          f"to https://CLUSTER.azurehdinsight.net/livy")
    if not urlparse(host).path.rstrip("/").endswith("/livy"):
        raise ConfigError(f"the Livy connection {conn_id!r} has host {host!r}: HDInsight serves Livy under /livy, "
                          f"set it to {host.rstrip('/')}/livy")
    if not (conn.login and conn.password):
        raise ConfigError(f"the Livy connection {conn_id!r} has no login or password: HDInsight's gateway wants the cluster "
                          f"login (set the connection's login and password, or its Key Vault secret)")
    return {"livy_conn_id": conn_id, "extra_headers": dict(HEADERS)}


def code(s: Settings) -> str:
    uri = s.need("code_uri").rstrip("/")
    if not uri.startswith(("abfs://", "abfss://", "wasb://", "wasbs://")):
        raise ConfigError(f"CONTRAIL_AZURE_CODE_URI={uri!r}: expected abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PREFIX")
    return uri


def batch_name(names: Names) -> str:
    return names.resource(max_len=100).lower()


def batch_request(job: str, argv: list[str], s: Settings, names: Names, livy_conn: dict) -> dict:
    """LivyOperator's arguments: spark_jobs/<job>.py from the code URI, its arguments, Contrail's Spark conf and the
    script action's Python on the driver and executors, the run's tags as YARN application tags. Submit only
    (polling_interval 0): await_job waits, and a retried submit finds this batch by its name first."""
    python = s.need("hdinsight_python")
    tags = ",".join(f"{key.split(':', 1)[1]}={value}" for key, value in names.tags().items() if value)
    conf = {**JOB_CONF, "spark.yarn.appMasterEnv.PYSPARK_PYTHON": python, "spark.executorEnv.PYSPARK_PYTHON": python,
            "spark.yarn.tags": f"contrail,contrail-digest={names.digest},{tags}"}
    return {"file": f"{code(s)}/spark_jobs/{job}.py", "args": list(argv), "name": batch_name(names), "conf": conf,
            "driver_memory": s.need("driver_memory"), "executor_memory": s.need("executor_memory"),
            "num_executors": s.number("executors", int), "queue": s.need("hdinsight_queue"),
            "polling_interval": 0, "deferrable": False, **livy_conn}


def wait_request(job: str, s: Settings, livy_conn: dict) -> dict:
    return {"batch_id": "{{ ti.xcom_pull(task_ids='%s.submit_job') }}" % job, "polling_interval": s.number("poll_s", int),
            "deferrable": True, **livy_conn}


def cost_lines(s: Settings) -> list[cost.Line]:
    """The batch's share of the long-lived cluster: its nodes for the hours a batch is expected to take."""
    hours = s.number("hdinsight_expected_hours")
    return [cost.Line("head nodes", s.need("hdinsight_head_type"), HEAD_NODES, hours, base="azure-vm", uplift="hdinsight"),
            cost.Line("workers", s.need("hdinsight_worker_type"), s.number("hdinsight_workers", int), hours,
                      base="azure-vm", uplift="hdinsight")]


# ---- run time: what the operators are given (the apache-livy provider's hook) -------------------

def hook(request: dict):
    from airflow.providers.apache.livy.hooks.livy import LivyHook

    return LivyHook(livy_conn_id=request["livy_conn_id"], extra_headers=request.get("extra_headers"))


def check_cluster(request: dict) -> str:
    """The cluster's Livy endpoint answers with the connection's login (before a batch is asked of it)."""
    livy_hook = hook(request)
    try:
        response = livy_hook.run_method(endpoint="batches", method="GET", data={"size": 1}, headers=request.get("extra_headers"))
        response.raise_for_status()
    except Exception as exc:  # noqa: BLE001  (whatever failed, the connection is what to look at)
        raise ConfigError(f"the HDInsight cluster behind connection {request['livy_conn_id']!r} does not answer its Livy "
                          f"endpoint ({type(exc).__name__}: {exc}): check the cluster is running and the connection's "
                          f"host and login") from None
    print(f"HDInsight Livy endpoint of {request['livy_conn_id']}: {response.json().get('total', 0)} batch(es) known")
    return request["livy_conn_id"]


def batches(request: dict) -> list[dict]:
    """The batches the cluster's Livy knows (it forgets ended ones after livy.server.session.state-retain.sec)."""
    response = hook(request).run_method(endpoint="batches", method="GET", data={"from": 0, "size": 1000},
                                         headers=request.get("extra_headers"))
    response.raise_for_status()
    return response.json().get("sessions", [])


def find_batch(request: dict, context) -> int | None:
    """The id of this run's batch, if an earlier try submitted it and it has not failed (Livy keeps ended batches
    for a while; the newest of the name wins). When there is none, the batch about to be submitted is first recorded
    as this run's in the lake (reaper.record: Livy gives nothing back that names a batch's run)."""
    mine = [b for b in batches(request) if b.get("name") == request["name"] and b.get("state") not in FAILED]
    if mine:
        return max(b["id"] for b in mine)
    from contrail.platforms.azure import reaper

    step = context["ti"].task_id.split(".", 1)[0]  # the step's task group: features, score, ...
    reaper.record(request["name"], Names.of(context["dag_run"], step, ()).tags())
    return None


def explain(request: dict, context, error: Exception) -> tuple[str, bool]:
    """The batch's state and console page (the wait already put its log tail in the error). An ended batch stays
    ended: waiting again cannot change it."""
    batch_id = request["batch_id"]
    try:
        state = hook(request).get_batch_state(batch_id).value
    except Exception as exc:  # noqa: BLE001
        return f"the state of Livy batch {batch_id} cannot be read ({type(exc).__name__}: {exc})", False
    return f"Livy batch {batch_id} is {state}\nconsole: {console(request, None) or '(no application id yet)'}", state in FAILED


def console(request: dict, result) -> str | None:
    """The batch's YARN application page on the cluster's gateway."""
    from airflow.sdk import BaseHook

    batch_id = request.get("batch_id", result)
    if batch_id is None or "{{" in str(batch_id):
        return None
    try:
        app_id = hook(request).get_batch(batch_id).get("appId")
    except Exception:  # noqa: BLE001  (a link is a convenience)
        return None
    gateway = BaseHook.get_connection(request["livy_conn_id"]).host.rstrip("/").removesuffix("/livy")
    return f"{gateway}/yarnui/hn/cluster/app/{app_id}" if app_id else None
