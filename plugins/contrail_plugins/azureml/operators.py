"""Azure ML operators: run a job (command or sweep) to its end, register a model version. Thin over AzureMLHook."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator

from contrail_plugins.azureml.hook import FAILED, AzureMLHook
from contrail_plugins.cloud import CONSOLE_KEY, CloudConsoleLink


def _ended_badly(job: dict) -> None:
    """Fail the task for a job that Failed, was Canceled or is NotResponding. A retry could only find the same job
    again (job names are unique in a workspace), so the task fails at once; to run again, give the job a new name."""
    if job["status"] in FAILED:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"the Azure ML job {job['name']} is {job['status']}: {job.get('error')}")


class AzureMLJobOperator(BaseOperator):
    """Submit an Azure ML job and wait for it to end, or re-attach to the job of that name when one exists.

    A job that exists and is running is waited for; one that is Completed ends the task at once; one that Failed or
    was Canceled fails it (it is not submitted again: names are unique in a workspace). The job's studio page is the
    task's *Cloud console* link.

    :param job: the job as in ``az ml job create -f job.yml``: a dict in the Azure ML CLI v2 job YAML schema
        (``type`` ``command`` or ``sweep``, ``name``, ``command`` or ``trial``, ``environment``, ``compute``, ...);
        an ``environment`` given as a plain string is a container image. Its ``name`` must be derived from the run, so
        that a retried task finds its job. (templated, shown as JSON)
    :param conn_id: the Airflow connection of the workspace (see AzureMLHook).
    :param deferrable: wait in the triggerer (AzureMLJobTrigger) instead of a worker slot.
    :param poll_interval: seconds between two reads of the job's status.
    :param wait_for_completion: wait for the job to end; when False the task ends once the job is submitted.
    """

    template_fields = ("job",)
    template_fields_renderers = {"job": "json"}
    operator_extra_links = (CloudConsoleLink(),)
    ui_color = "#e4ecfb"

    def __init__(self, *, job: dict, conn_id: str = AzureMLHook.default_conn_name, deferrable: bool = True,
                 poll_interval: float = 60, wait_for_completion: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.job, self.conn_id, self.deferrable = job, conn_id, deferrable
        self.poll_interval, self.wait_for_completion = poll_interval, wait_for_completion
        self.waiting_for: str | None = None  # the job this try waits for in the worker, cancelled by on_kill

    @property
    def hook(self) -> AzureMLHook:
        return AzureMLHook(self.conn_id)

    def execute(self, context) -> dict:
        hook = self.hook
        job = hook.submit(self.job)
        if job.get("studio_url"):
            context["ti"].xcom_push(key=CONSOLE_KEY, value=job["studio_url"])
        _ended_badly(job)
        if job["status"] == "Completed" or not self.wait_for_completion:
            return job
        if self.deferrable:
            from contrail_plugins.azureml.trigger import AzureMLJobTrigger

            self.defer(trigger=AzureMLJobTrigger(conn_id=self.conn_id, job_name=job["name"],
                                                 poll_interval=self.poll_interval), method_name="execute_complete")
        self.waiting_for = job["name"]
        job = hook.wait_for_job(job["name"], self.poll_interval)
        self.waiting_for = None
        _ended_badly(job)
        return job

    def execute_complete(self, context, event: dict[str, Any]) -> dict:
        """The trigger's event: the job's summary when it Completed, else the task fails with its error."""
        if event["status"] != "success":
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(
                f"the Azure ML job {event['job_name']} is {event['job_status']}: {event['message']}")
        self.log.info("%s", event["message"])
        return event["job"]

    def on_kill(self) -> None:
        if self.waiting_for:
            self.hook.cancel(self.waiting_for)


class AzureMLRegisterModelOperator(BaseOperator):
    """Register a model version in an Azure ML workspace; a version that exists with the same path is kept as is.

    :param model: the model as in ``az ml model create -f model.yml``: a dict in the CLI v2 model YAML schema
        (``name``, ``version``, ``type`` ``mlflow_model`` or ``custom_model``, ``path`` an ``azureml://`` or
        ``https://<account>.blob.core.windows.net/`` URI, ``tags``, ``description``). (templated, shown as JSON)
    :param conn_id: the Airflow connection of the workspace (see AzureMLHook).
    """

    template_fields = ("model",)
    template_fields_renderers = {"model": "json"}
    ui_color = "#e4ecfb"

    def __init__(self, *, model: dict, conn_id: str = AzureMLHook.default_conn_name, **kwargs):
        super().__init__(**kwargs)
        self.model, self.conn_id = model, conn_id

    def execute(self, context) -> dict:
        return AzureMLHook(self.conn_id).register_model(self.model)
