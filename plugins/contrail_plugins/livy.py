"""Waiting for a Livy batch that another task submitted, deferred in the triggerer.

The apache-livy provider's ``LivyOperator`` submits a batch and, when deferrable, waits for it in the
same task: a retried task then posts a second batch, and (provider 4.6.4) its deferral drops
``livy_endpoint_prefix``, so the triggerer polls the wrong path on HDInsight. Contrail submits with
``LivyOperator`` (``polling_interval=0``: submit only, so a retry can find the batch first) and waits
with ``LivyBatchSensor``, which defers to the provider's own ``LivyTrigger`` and judges the batch by its
final state: ``success`` passes; ``dead``, ``killed`` and ``error`` fail with the tail of the batch's log.
"""

from __future__ import annotations

import time
from typing import Any

from airflow.sdk import BaseOperator

FAILED = ("dead", "killed", "error")


class LivyBatchSensor(BaseOperator):
    """Wait for Livy batch ``batch_id`` to end; fail with its log's last lines unless it succeeded.

    :param batch_id: the batch's id, as ``LivyOperator`` returned it (templated).
    :param livy_conn_id: the Livy connection (its host may carry a path, e.g. ``https://CLUSTER.azurehdinsight.net/livy``).
    :param extra_headers: headers of every request (HDInsight's Livy wants ``X-Requested-By``).
    :param polling_interval: seconds between two checks of the batch's state.
    :param log_tail: how many of the log's last lines a failure shows.
    :param deferrable: wait in the triggerer (the provider's ``LivyTrigger``) instead of a worker slot.
    """

    template_fields = ("batch_id",)
    ui_color = "#e4ecfb"

    def __init__(self, *, batch_id: int | str, livy_conn_id: str = "livy_default", extra_headers: dict | None = None,
                 polling_interval: int = 60, log_tail: int = 40, deferrable: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        self.batch_id, self.livy_conn_id, self.extra_headers = batch_id, livy_conn_id, extra_headers or {}
        self.polling_interval, self.log_tail, self.deferrable = polling_interval, log_tail, deferrable

    @property
    def hook(self):
        from airflow.providers.apache.livy.hooks.livy import LivyHook

        return LivyHook(livy_conn_id=self.livy_conn_id, extra_headers=self.extra_headers)

    def execute(self, context):
        hook = self.hook
        state = hook.get_batch_state(self.batch_id)
        while state not in hook.TERMINAL_STATES:
            if self.deferrable:
                from airflow.providers.apache.livy.triggers.livy import LivyTrigger

                self.defer(trigger=LivyTrigger(batch_id=self.batch_id, spark_params={}, livy_conn_id=self.livy_conn_id,
                                               polling_interval=self.polling_interval, extra_headers=self.extra_headers),
                           method_name="execute_complete")
            time.sleep(self.polling_interval)
            state = hook.get_batch_state(self.batch_id)
        return self._finish(context, state.value)

    def execute_complete(self, context, event: dict) -> Any:
        """The trigger's event says success or error; the batch's own state decides (an error event can also be
        a lost connection while the batch still runs: that is worth a retry, not a verdict)."""
        from airflow.sdk.exceptions import AirflowException

        hook = self.hook
        state = hook.get_batch_state(self.batch_id)
        if state not in hook.TERMINAL_STATES:
            raise AirflowException(f"lost track of Livy batch {self.batch_id} while it is {state.value}: "
                                   f"{event.get('response')}")
        return self._finish(context, state.value)

    def _finish(self, context, state: str):
        from airflow.sdk.exceptions import AirflowException

        batch = self.hook.get_batch(self.batch_id)
        context["ti"].xcom_push(key="app_id", value=batch.get("appId"))
        if state == "success":
            self.log.info("Livy batch %s (%s) succeeded", self.batch_id, batch.get("appId"))
            return self.batch_id
        raise AirflowException(f"Livy batch {self.batch_id} ({batch.get('appId')}) ended {state}; "
                               f"the last lines of its log:\n{log_tail(self.hook, self.batch_id, self.log_tail)}")


def log_tail(hook, batch_id: int | str, lines: int) -> str:
    """The last `lines` lines of a batch's log (Livy pages it: `from`, `size`, `total`)."""
    try:
        total = hook.get_batch_logs(batch_id, 0, 1).get("total", 0)
        page = hook.get_batch_logs(batch_id, max(0, total - lines), lines)
    except Exception as exc:  # noqa: BLE001  (the explanation must not hide the batch's own failure)
        return f"(the batch's log cannot be read: {type(exc).__name__}: {exc})"
    return "\n".join(page.get("log") or ["(the batch's log is empty)"])
