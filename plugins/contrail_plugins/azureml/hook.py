"""The Azure ML hook: jobs and models of one workspace through the azure-ai-ml SDK, from an Airflow connection.

The SDK is imported inside the methods: importing this module costs only airflow.sdk.
"""

from __future__ import annotations

import io
import re
import time
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowException

ENDED = frozenset({"Completed", "Failed", "Canceled", "NotResponding"})
FAILED = ENDED - {"Completed"}
LOG_TAIL_BYTES = 4096
# where run history keeps what the job printed: a v2 job's user log (one a process), else a v1 driver log
LOG_FILES = (re.compile(r"user_logs/std_log(_process_0+)?\.txt"),
             re.compile(r"azureml-logs/70_driver_log(_0+)?\.txt"))
REMOTE_MODEL = re.compile(r"azureml://|https://[^/]+\.blob\.core\.(windows\.net|chinacloudapi\.cn|usgovcloudapi\.net)/")
SCOPE = {  # extra -> what it holds, for the error naming the missing one
    "subscription_id": "the Azure subscription id of the workspace",
    "resource_group": "the resource group of the workspace",
    "workspace_name": "the Azure ML workspace name",
}


class AzureMLHook(BaseHook):
    """Submit, watch and cancel Azure ML jobs and register models in one workspace.

    The connection (conn_type ``generic``; the hook reads only the fields below, so an ``azure`` one works too):

    - ``login`` / ``password``: a service principal's client id and secret (then the extra ``tenant_id`` is
      required). Without them the credential is ``DefaultAzureCredential`` (managed or workload identity), with the
      extras ``managed_identity_client_id`` and ``workload_identity_tenant_id`` as the microsoft-azure provider reads
      them.
    - extras ``subscription_id``, ``resource_group``, ``workspace_name``: the workspace (required).
    - extra ``cloud``: a cloud the SDK knows (``AzureCloud``, the default, ``AzureChinaCloud``,
      ``AzureUSGovernment``); extra ``authority``: the Entra ID host of a sovereign cloud, for the credential.
    - extra ``resource_manager_url``: any other Resource Manager endpoint (a private cloud, a test's peer); every
      endpoint of the cloud is then that URL.

    :param conn_id: the Airflow connection of the workspace.
    """

    conn_name_attr = "conn_id"
    default_conn_name = "azure_ml_default"
    conn_type = "generic"
    hook_name = "Azure ML"

    def __init__(self, conn_id: str = default_conn_name):
        super().__init__()
        self.conn_id = conn_id
        self._connection = self._client = None

    # ---- the connection ----

    @property
    def connection(self):
        if self._connection is None:
            self._connection = self.get_connection(self.conn_id)
        return self._connection

    def required_extra(self, key: str, what: str) -> str:
        """The connection's extra `key`, or an error naming the connection, the extra and what to set it to."""
        value = self.connection.extra_dejson.get(key)
        if not value:
            raise AirflowException(f"the Airflow connection {self.conn_id!r} has no extra {key!r}: set it to {what}")
        return str(value)

    def get_credential(self):
        """A service principal's ClientSecretCredential when the connection has a login, else DefaultAzureCredential."""
        conn, extras = self.connection, self.connection.extra_dejson
        authority = {"authority": extras["authority"]} if extras.get("authority") else {}
        if conn.login or conn.password:
            if not (conn.login and conn.password):
                raise AirflowException(f"the Airflow connection {self.conn_id!r} needs both a login (the service "
                                       "principal's client id) and a password (its client secret), or neither")
            from azure.identity import ClientSecretCredential

            tenant = self.required_extra("tenant_id", "the Microsoft Entra tenant id of the service principal")
            return ClientSecretCredential(tenant, conn.login, conn.password, **authority)
        from airflow.providers.microsoft.azure.utils import (
            get_sync_default_azure_credential,
        )

        return get_sync_default_azure_credential(managed_identity_client_id=extras.get("managed_identity_client_id"),
                                                 workload_identity_tenant_id=extras.get("workload_identity_tenant_id"))

    def scope(self) -> list[str]:
        """The workspace's subscription id, resource group and name."""
        return [self.required_extra(key, what) for key, what in SCOPE.items()]

    def get_client(self):
        """The workspace's MLClient (one a hook)."""
        if self._client is None:
            from azure.ai.ml import MLClient

            scope = self.scope()
            url = self.connection.extra_dejson.get("resource_manager_url")
            if url:
                # the SDK keeps the first metadata given under a cloud name for the whole process: one name a URL
                base = url.rstrip("/") + "/"
                cloud = {"cloud": f"ResourceManager:{base}", "cloud_metadata": {
                    key: base for key in ("resource_manager", "azure_portal", "active_directory", "aml_resource_id",
                                          "registry_discovery_endpoint")} | {"storage_endpoint": "core.windows.net"}}
            else:  # named always: MLClient makes the cloud it was given the process's default (AZUREML_CURRENT_CLOUD)
                cloud = {"cloud": self.connection.extra_dejson.get("cloud") or "AzureCloud"}
            self._client = MLClient(self.get_credential(), *scope, enable_telemetry=False, **cloud)
        return self._client

    # ---- jobs ----

    def submit(self, job: dict) -> dict:
        """Submit `job` (a dict in the CLI v2 job YAML schema, with a ``name``) unless a job of that name exists in the
        workspace; either way the job's summary (see `get_job`). A retried task so re-attaches to its job.

        An ``environment`` (of the job or a sweep's ``trial``) given as a string that is not an ``azureml:``
        reference is a container image."""
        name = job.get("name")
        if not name:
            raise AirflowException("the Azure ML job has no 'name': give it one derived from the run (names are unique "
                                   "in a workspace, and a retried task finds its job by it)")
        found = self._find_job(name)
        if found is not None:
            self.log.info("the Azure ML job %s exists (%s): re-attaching to it", name, found["status"])
            return found
        from azure.ai.ml import load_job

        created = self.get_client().jobs.create_or_update(load_job(source=_yaml(_with_images(job))))
        self.log.info("submitted the Azure ML job %s (%s): %s", created.name, created.status, created.studio_url)
        return self._summary(created)

    def get_job(self, name: str) -> dict:
        """The job's ``name``, ``type``, ``status``, ``display_name``, ``experiment_name``, ``studio_url`` and, once it
        failed or was canceled, ``error``: its error message and the tail of its log."""
        return self._summary(self.get_client().jobs.get(name))

    def wait_for_job(self, name: str, poll_interval: float = 60) -> dict:
        """Poll the job every `poll_interval` seconds until it ends; its summary."""
        while (job := self.get_job(name))["status"] not in ENDED:
            self.log.info("the Azure ML job %s is %s", name, job["status"])
            time.sleep(poll_interval)
        return job

    def list_jobs(self, tag: str | None = None) -> list[dict]:
        """The workspace's jobs (not archived; a sweep's trials are under their sweep), only those carrying the tag key
        `tag` when given: each one's ``name``, ``type``, ``status`` and ``tags``."""
        jobs = self.get_client().jobs.list(**({"tag": tag} if tag else {}))
        return [{"name": job.name, "type": job.type, "status": str(getattr(job.status, "value", job.status)),
                 "tags": dict(job.tags or {})} for job in jobs if job is not None]  # None: a job the SDK cannot parse

    def cancel(self, name: str) -> None:
        """Cancel the job and wait for Azure ML to accept the cancellation."""
        self.get_client().jobs.begin_cancel(name).result()
        self.log.info("canceled the Azure ML job %s", name)

    def failure(self, name: str) -> str:
        """The job's error message and the tail of its log, from run history (as ``az ml job stream`` reads them)."""
        # run history has no public accessor in azure-ai-ml (1.35): jobs.stream() uses this one, and downloads every log
        details = self.get_client().jobs._runs_operations.get_run_details(name)
        error = details.error.error.message if details.error and details.error.error else "no error message"
        files = details.log_files or {}
        log = next((key for pattern in LOG_FILES for key in sorted(files) if pattern.fullmatch(key)), None)
        return f"{error}\n--- the end of {log} ---\n{_tail(files[log])}" if log else error

    def _find_job(self, name: str) -> dict | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.get_job(name)
        except ResourceNotFoundError:
            return None

    def _summary(self, job) -> dict:
        status = str(getattr(job.status, "value", job.status))
        summary = {"name": job.name, "type": job.type, "status": status, "display_name": job.display_name,
                   "experiment_name": job.experiment_name, "studio_url": job.studio_url}
        if status in FAILED:
            summary["error"] = self._failure_or_why(job.name)
        return summary

    def _failure_or_why(self, name: str) -> str:
        import requests
        from azure.core.exceptions import HttpResponseError

        try:
            return self.failure(name)
        except (HttpResponseError, requests.RequestException) as e:  # the job's end stands; only its story is missing
            return f"(its error could not be read from run history: {e})"

    # ---- models ----

    def register_model(self, model: dict) -> dict:
        """Register a model version (a dict in the CLI v2 model YAML schema: ``name``, ``version``, ``type``
        ``mlflow_model`` or ``custom_model``, ``path`` an ``azureml://`` or blob URI, ``tags``, ``description``)
        unless that version exists already with the same path; the version's summary."""
        name, version, path = model.get("name"), str(model.get("version") or ""), str(model.get("path") or "")
        if not (name and version):
            raise AirflowException(f"the model {model!r} needs a 'name' and a 'version' (registering is idempotent "
                                   "on both: a retried task finds its version)")
        if not REMOTE_MODEL.match(path):
            raise AirflowException(f"the model {name}:{version} has the path {path!r}: give an azureml:// or "
                                   "https://<account>.blob.core.windows.net/ URI (nothing is uploaded from the worker)")
        from azure.ai.ml import load_model
        from azure.core.exceptions import ResourceNotFoundError

        models = self.get_client().models
        try:
            found = models.get(name, version)
        except ResourceNotFoundError:
            created = models.create_or_update(load_model(source=_yaml({**model, "version": version})))
            self.log.info("registered the Azure ML model %s:%s from %s", name, version, created.path)
            return _model_summary(created)
        if found.path.lower() != self._long_path(path).lower():
            raise AirflowException(f"the Azure ML model {name}:{version} exists with the path {found.path}, not "
                                   f"{path}: versions are immutable, register this one under a new version")
        self.log.info("the Azure ML model %s:%s is registered already", name, version)
        return _model_summary(found)

    def _long_path(self, path: str) -> str:
        """An ``azureml://datastores/...`` path as the SDK sends it: with the workspace's scope."""
        if not path.startswith("azureml://datastores/"):
            return path
        sub, group, workspace = self.scope()
        return f"azureml://subscriptions/{sub}/resourcegroups/{group}/workspaces/{workspace}/{path[len('azureml://'):]}"


def _with_images(job: dict) -> dict:
    """`job` with each environment given as an image string written as ``{"image": ...}``."""
    job = {**job}
    if isinstance(job.get("trial"), dict):
        job["trial"] = _with_images(job["trial"])
    environment = job.get("environment")
    if isinstance(environment, str) and not environment.startswith("azureml:"):
        job["environment"] = {"image": environment}
    return job


def _yaml(document: dict) -> io.StringIO:
    """`document` as the YAML stream the SDK's loaders read (they take a file or a stream, not a dict)."""
    import yaml

    return io.StringIO(yaml.safe_dump(document, sort_keys=False))


def _tail(url: str) -> str:
    """The last LOG_TAIL_BYTES of a log blob (its SAS URL), from its first whole line."""
    import requests

    head = requests.head(url, timeout=30)
    head.raise_for_status()
    size = int(head.headers.get("Content-Length") or 0)
    if not size:
        return ""
    start = max(size - LOG_TAIL_BYTES, 0)
    reply = requests.get(url, headers={"Range": f"bytes={start}-"}, timeout=30)
    reply.raise_for_status()
    text = reply.content.decode("utf-8", errors="replace")
    return text.split("\n", 1)[-1] if start else text


def _model_summary(model) -> dict[str, Any]:
    return {"name": model.name, "version": model.version, "type": model.type, "path": model.path, "id": model.id,
            "tags": dict(model.tags or {}), "description": model.description}
