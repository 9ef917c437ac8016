"""The registry mirror and the endpoint on SageMaker: plans, and the smoke request's invocation.

Both serve the same archive of a registered MLflow version, uploaded once by the plan that needs it
first: `<lake>/registry/<model>/<version>/model.tar.gz`, the MLflow model folder at its root, which
the MLflow pyfunc serving image (`CONTRAIL_SAGEMAKER_SERVING_IMAGE`) serves.
"""

from __future__ import annotations

import json

from contrail.platforms.aws import settings as aws_settings


def archive_uri(lake: str, model: str, version: str) -> str:
    return f"{lake.rstrip('/')}/registry/{model}/{version}/model.tar.gz"


def plan_mirror(candidate: dict, decision: str | None, names) -> dict:
    from contrail.platforms import cost
    from contrail.platforms.aws import account, sagemaker

    s = aws_settings.load()
    conn = account.connection(s)
    s.need("serving_image")
    uri = sagemaker.upload_serving_model(candidate["model"], candidate["version"],
                                         archive_uri(account.lake_root(), candidate["model"], candidate["version"]),
                                         conn["aws_conn_id"])
    group = s.get("package_group") or candidate["model"].replace("_", "-")
    request = {**sagemaker.package_request(candidate, decision, s, group, uri), **conn}
    return {"register_version": request, "cost": cost.estimate([], {}, 0.0)}


def plan_endpoint(model: str, version: str, names) -> dict:
    """Create the endpoint, or update it in place to the new champion's model and configuration."""
    from contrail.platforms import cost
    from contrail.platforms.aws import account, sagemaker

    s = aws_settings.load()
    conn = account.connection(s)
    account.require_role(s.need("sagemaker_role"), "CONTRAIL_SAGEMAKER_ROLE", conn)
    uri = sagemaker.upload_serving_model(model, version, archive_uri(account.lake_root(), model, version), conn["aws_conn_id"])
    probe = sagemaker.endpoint_request(model, version, s, uri, "create")["config"]["Endpoint"]["EndpointName"]
    existing = sagemaker.exists(account.client(conn, "sagemaker").describe_endpoint, EndpointName=probe)
    request = {**sagemaker.endpoint_request(model, version, s, uri, "update" if existing else "create"),
               "wait_for_completion": False, **conn}
    poll = s.number("poll_s", int)
    lines = [cost.Line("endpoint (per hour, while it serves)", s.need("endpoint_instance_type"),
                       s.number("endpoint_instance_count", int), 1.0, base="sagemaker")]
    return {"deploy_endpoint": request,
            "await_endpoint": {"endpoint_name": probe, "poke_interval": poll, "mode": "reschedule", **conn},
            "endpoint": {"endpoint_name": probe, **conn},
            "cost": cost.estimate(lines, cost.prices(), cost.spot_discount())}


def invoke(endpoint: dict, rows: list[dict]) -> list[float]:
    """P(late) of each row from the endpoint (the MLflow scoring protocol: dataframe_records in, predictions out)."""
    from contrail.platforms.aws import account

    runtime = account.client(endpoint, "sagemaker-runtime")
    answer = runtime.invoke_endpoint(EndpointName=endpoint["endpoint_name"], ContentType="application/json",
                                     Accept="application/json", Body=json.dumps({"dataframe_records": rows}))
    body = json.loads(answer["Body"].read())
    return [float(p[1]) for p in body["predictions"]]
