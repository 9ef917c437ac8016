"""An official provider operator, built when its task runs, so DAG files parse without a cloud SDK.

A DAG file must parse in milliseconds under every profile, but a provider's operator module imports
its SDK (the amazon provider's EMR module pulls in boto3 and botocore, about 0.6 s). ``CloudOperator``
holds the provider class as a dotted path and its keyword arguments as one templated ``request``
(usually a slot of the step's plan, built by a pure request function at run time). When the task
runs it builds the provider operator from the rendered request and runs it, deferral included: the
trigger is the provider's own, and ``execute_complete`` is the provider's own.
"""

from __future__ import annotations

import importlib
from typing import Any

from airflow.sdk import BaseOperator, BaseOperatorLink

CONSOLE_KEY = "contrail_console_url"


def resolve(dotted: str):
    """The object at ``package.module.Name`` or ``package.module:function``."""
    module, _, name = dotted.replace(":", ".").rpartition(".")
    return getattr(importlib.import_module(module), name)


class CloudConsoleLink(BaseOperatorLink):
    """The cloud console page of the cluster, step or job a task started (stored by the task as an XCom)."""

    name = "Cloud console"

    def get_link(self, operator, *, ti_key) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        return XCom.get_value(key=CONSOLE_KEY, ti_key=ti_key) or ""


class CloudOperator(BaseOperator):
    """Run ``operator`` (an official provider operator) with ``request`` as its arguments.

    :param operator: dotted path of the provider operator class, e.g.
        ``airflow.providers.amazon.aws.operators.emr.EmrCreateJobFlowOperator``; the UI shows its name.
    :param request: the provider operator's keyword arguments (templated, shown as JSON). Its strings
        are rendered again after an XCom resolves it, so a plan may refer to upstream XComs. A string
        instead of a dict means the plan left this slot out for this run: the task is skipped with
        that string as the reason.
    :param attach: optional dotted path of ``f(request, context) -> result | None``: what an earlier
        try of this task already started (a cluster, a step, a job). When it returns a result the
        task re-attaches to it instead of starting a second one.
    :param explain: optional dotted path of ``f(request, context, error) -> (text, permanent)``: why
        the cloud step failed (its log tail, its console page). The text goes to the task log; when
        ``permanent`` a retry cannot change the outcome and the task fails at once.
    :param console: optional dotted path of ``f(request, result) -> url | None``: the console page
        shown as the task's *Cloud console* extra link.
    :param arguments: optional dotted path of ``f(request) -> kwargs``: turns the JSON request (which
        travels as an XCom) into the provider operator's arguments where it wants other types (enums).
    """

    template_fields = ("request",)
    template_fields_renderers = {"request": "json"}
    operator_extra_links = (CloudConsoleLink(),)
    ui_color = "#e4ecfb"

    def __init__(self, *, operator: str, request: Any, attach: str | None = None, explain: str | None = None,
                 console: str | None = None, arguments: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.operator, self.request = operator, request
        self.attach, self.explain, self.console, self.arguments = attach, explain, console, arguments
        self.custom_operator_name = operator.rsplit(".", 1)[-1]

    def render_template_fields(self, context, jinja_env=None) -> None:
        super().render_template_fields(context, jinja_env)
        # the request usually arrives from the plan's XCom, whose strings may refer to other XComs
        self.request = self.render_template(self.request, context, jinja_env)

    def provider_operator(self):
        """The provider operator, built from the rendered request."""
        kwargs = resolve(self.arguments)(self.request) if self.arguments else self.request
        return resolve(self.operator)(task_id=self.task_id, **kwargs)

    def execute(self, context):
        from airflow.sdk.exceptions import AirflowSkipException

        if isinstance(self.request, str):
            context["ti"].xcom_push(key=CONSOLE_KEY, value="")  # nothing started: no console page
            raise AirflowSkipException(self.request)
        if self.attach:
            found = resolve(self.attach)(self.request, context)
            if found is not None:
                self.log.info("re-attached to what an earlier try started: %s", found)
                self._link(context, found)
                return found
        self._link(context, None)
        return self._run(context, lambda op: op.execute(context))

    def resume_execution(self, next_method: str, next_kwargs: dict | None, context):
        return self._run(context, lambda op: op.resume_execution(next_method, next_kwargs, context))

    def _run(self, context, call):
        from airflow.sdk.exceptions import (
            AirflowRescheduleException,
            AirflowSkipException,
        )

        try:
            result = call(self.provider_operator())
        except (AirflowRescheduleException, AirflowSkipException):  # a sensor waiting or skipping: not a failure
            raise
        except Exception as exc:  # a deferral (TaskDeferred) is a BaseException and passes through
            if not self.explain:
                raise
            text, permanent = resolve(self.explain)(self.request, context, exc)
            self.log.error("%s", text)
            self._link(context, None)
            if permanent:
                from airflow.sdk.exceptions import AirflowFailException

                raise AirflowFailException(f"{exc}\n{text}") from exc
            raise
        self._link(context, result)
        return result

    def _link(self, context, result) -> None:
        if self.console:
            url = resolve(self.console)(self.request, result)
            if url:
                context["ti"].xcom_push(key=CONSOLE_KEY, value=url)
