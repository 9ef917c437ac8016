"""The trigger an AzureMLJobOperator defers to: it polls the job from the triggerer until the job ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from contrail_plugins.azureml.hook import ENDED, AzureMLHook


def job_event(job: dict) -> dict:
    """The event of an ended job (a hook's job summary): success when Completed, else error with its error."""
    ok = job["status"] == "Completed"
    message = f"the Azure ML job {job['name']} is Completed" if ok else job.get("error") or "no error message"
    return {"status": "success" if ok else "error", "job_name": job["name"], "job_status": job["status"],
            "message": message, "job": job}


class AzureMLJobTrigger(BaseTrigger):
    """Poll an Azure ML job every `poll_interval` seconds and fire once when it has ended.

    The event: ``status`` (``success`` when the job is Completed; ``error`` when it Failed, was Canceled or is
    NotResponding, or when polling failed), ``job_name``, ``job_status``, ``message`` (the job's error and log tail on
    error) and ``job`` (the hook's summary of the job, absent when polling failed).

    :param conn_id: the Airflow connection of the workspace (see AzureMLHook).
    :param job_name: the job's name.
    :param poll_interval: seconds between two reads of the job.
    """

    def __init__(self, conn_id: str, job_name: str, poll_interval: float = 60):
        super().__init__()
        self.conn_id, self.job_name, self.poll_interval = conn_id, job_name, poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("contrail_plugins.azureml.trigger.AzureMLJobTrigger",
                {"conn_id": self.conn_id, "job_name": self.job_name, "poll_interval": self.poll_interval})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = AzureMLHook(self.conn_id)
        try:
            # the SDK is synchronous (no aio MLClient): each read runs on a thread, off the triggerer's event loop
            while (job := await asyncio.to_thread(hook.get_job, self.job_name))["status"] not in ENDED:
                self.log.info("the Azure ML job %s is %s", self.job_name, job["status"])
                await asyncio.sleep(self.poll_interval)
        except Exception as e:  # the task fails with what went wrong, as the provider triggers report it
            yield TriggerEvent({"status": "error", "job_name": self.job_name, "job_status": None,
                                "message": f"polling the Azure ML job {self.job_name} failed: {e!r}"})
            return
        yield TriggerEvent(job_event(job))
