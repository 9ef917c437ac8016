"""Contrail model rollback: put the previous champion back, by hand."""

from __future__ import annotations

from airflow.sdk import Param, dag
from contrail_plugins.operators import ModelRollbackOperator

from contrail import datasets, inputs
from contrail.dag_defaults import dag_kwargs


@dag(
    dag_id="contrail_model_rollback",
    schedule=None,
    **dag_kwargs("mlflow", "rollback"),
    params={
        "model": Param("flights_delay", type="string", pattern=f"^{inputs.NAME}$", description="registered model name"),
        "reason": Param("manual rollback", type="string", minLength=3, description="why (recorded on the version)"),
    },
)
def contrail_model_rollback():
    """
    ### Roll the champion back
    Trigger by hand. Under the promotion lock: alias `champion` moves to the version behind
    `previous`, the rolled-back version gets a `contrail.rolled_back` tag with the reason, the
    promotion ledger records it, and `previous` moves to the champion before that one (from the
    ledger) or is removed. A retry of the same run does not roll back twice. Fails clearly when there is no champion or no previous one.
    """
    ModelRollbackOperator(task_id="rollback", model_name="{{ params.model }}", reason="{{ params.reason }}",
                          outlets=[datasets.asset(datasets.MODEL_CHAMPION)])


contrail_model_rollback()
