"""Contrail serving: deploy the champion to an online endpoint and check it with a smoke request."""

from __future__ import annotations

from airflow.sdk import dag

from contrail import datasets, platforms
from contrail.dag_defaults import dag_kwargs

MODEL = datasets.asset(datasets.MODEL_CHAMPION)


@dag(
    dag_id="contrail_serving",
    schedule=[MODEL],
    **dag_kwargs("serving", "mlflow"),
)
def contrail_serving():
    """
    ### Serve the champion online
    Runs each time the champion changes (a promotion in `contrail_training`, or
    `contrail_model_rollback`), and by hand. Optional: with `CONTRAIL_SERVING=off` (the default)
    every task is skipped, saying so.

    1. **serve.plan**: the champion's version, the endpoint's requests and estimated cost, and a
       smoke request of real rows from the model's holdout with the predictions the registered
       model itself makes for them.
    2. **serve.deploy_endpoint** / **serve.await_endpoint**: locally `mlflow models serve` on
       127.0.0.1 (`CONTRAIL_SERVING_PORT`, replacing the server of the previous champion); on AWS a
       SageMaker model, endpoint configuration and endpoint (updated in place when it exists).
    3. **serve.smoke_test**: sends the rows and fails unless the answer equals the model's own
       predictions row for row.
    """
    platforms.serving_step()


contrail_serving()
