"""The interface every platform module (local, aws, ...) implements; steps.py is its only caller.

Two kinds of function. *Parse time* ones build a step's operators from its plan (an XCom of the
step's `plan` task) and must import nothing heavy: a cloud module wraps its provider operators in
`CloudOperator`, which imports the provider when the task runs. *Run time* ones are called inside
tasks: `plan_*` turn a step's inputs into the requests of its slots (pure request builders, tested
by equality), and the rest read results back or do small cloud calls.

A plan is a dict holding one entry per slot: the slot's request (a dict of the operator's
arguments), or a string saying why this run leaves the slot out (the slot then skips with it),
plus `cost`, the estimate the budget guard checked, and for a Spark step `collect`: None, or what the
task after the step must turn into the lake's partitions first (a managed batch scorer's answers).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Protocol

from contrail.platforms.naming import Names


class Platform(Protocol):
    NAME: str

    # Spark jobs (features, scoring): slots start_cluster, submit_job, await_job, stop_cluster
    def spark_operators(self, job: str, plan: Any) -> dict[str, Any]: ...
    def plan_spark(self, job: str, argv: list[str], names: Names) -> dict: ...
    def spark_session(self): ...  # Spark inside a task: the quality engine on large days
    def collect_scores(self, collect: dict) -> None: ...  # a managed batch scorer's answers into predictions/

    # training and tuning: slots submit_training, await_training, submit_tuning, await_tuning
    def training_operators(self, plan: Any) -> dict[str, Any]: ...
    def plan_training(self, spec: dict, names: Names, job_name: str) -> dict: ...
    def job_output(self, output: dict) -> contextlib.AbstractContextManager[Path]: ...

    # the registry mirror after a promotion decision: slot register_version
    def mirror_operators(self, plan: Any) -> dict[str, Any]: ...
    def plan_mirror(self, candidate: dict, decision: str, names: Names) -> dict: ...

    # online serving of the champion: slots deploy_endpoint, await_endpoint; then a smoke request
    def serving_operators(self, plan: Any) -> dict[str, Any]: ...
    def plan_serving(self, model: str, version: str, names: Names) -> dict: ...
    def invoke(self, endpoint: dict, rows: list[dict]) -> list[float]: ...

    # landing zone: the managed conversion of drops (Glue, Dataflow, Data Factory) or none
    def convert_drops_operator(self) -> Any: ...

    # housekeeping: storage tiers for old raw data; what ended runs left running
    def apply_lake_policy(self) -> str: ...
    def reap(self, run_state) -> list[str]: ...
