"""The registry mirror and the endpoint on Vertex AI: plans (their requests pure), and the smoke request.

Both serve the same copy of a registered MLflow version, exported once by the plan that needs it
first: `<lake>/registry/<model>/<version>/model/`, the MLflow model folder, which the MLflow pyfunc
serving image (CONTRAIL_VERTEX_SERVING_IMAGE, `mlflow models build-docker`) serves on port 8080
(`/invocations`, `/ping`). A model's versions are one Vertex model (`parent_model`); the `champion`
alias follows the promotion gate, as MLflow's alias does.
"""

from __future__ import annotations

from contrail.platforms.gcp import settings as gcp_settings
from contrail.platforms.gcp.account import label

SERVING_PORT = 8080


def export_relative(model: str, version: str) -> str:
    return f"registry/{model}/{version}/model"


def export_model(model: str, version: str) -> str:
    """The registered MLflow version's folder copied into the lake once (MLmodel written last: its presence says the
    copy is whole); returns its gs:// URI."""
    import tempfile
    from pathlib import Path

    import mlflow

    from contrail import storage
    from contrail.platforms.gcp.account import lake_root
    from contrail.registry import trust

    relative = export_relative(model, version)
    dest = storage.location(relative)
    if not (dest / "MLmodel").exists():
        with tempfile.TemporaryDirectory(prefix="contrail-export-") as tmp:
            folder = Path(mlflow.artifacts.download_artifacts(trust.model_uri(model, version), dst_path=f"{tmp}/model"))
            for path in sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.name == "MLmodel"):
                target = dest / str(path.relative_to(folder))
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
    return f"{lake_root()}/{relative}"


def container_spec(s) -> dict:
    return {"image_uri": s.need("serving_image"), "predict_route": "/invocations", "health_route": "/ping",
            "ports": [{"container_port": SERVING_PORT}], "env": [{"name": "MLFLOW_DEPLOYMENT_FLAVOR_NAME", "value": "python_function"}]}


def upload_request(candidate: dict, decision: str | None, s, uri: str, parent: str | None) -> dict:
    """UploadModelOperator's arguments: a new version of the model (or its first), the champion alias if promoted."""
    metrics = candidate.get("metrics") or {}
    labels = {"mlflow-model": label(candidate["model"]), "mlflow-version": str(candidate["version"]),
              "decision": decision or "none", **{f"holdout-{k.replace('_', '-')}": label(f"{v:.4f}".replace(".", "_"))
                                                  for k, v in metrics.items() if k in ("roc_auc", "pr_auc")}}
    model = {"display_name": candidate["model"], "artifact_uri": uri, "container_spec": container_spec(s), "labels": labels,
             "description": f"{candidate['model']} v{candidate['version']}, window {candidate['window']} "
                            f"(MLflow run {candidate['run_id']}; MLflow is the registry of record)",
             "version_aliases": [f"mlflow-v{candidate['version']}", *(["champion"] if decision == "promoted" else [])]}
    return {"model": model, "parent_model": parent}


def _models(request: dict):
    from airflow.providers.google.cloud.hooks.vertex_ai.model_service import ModelServiceHook

    return ModelServiceHook(gcp_conn_id=request.get("gcp_conn_id")).get_model_service_client(request["region"])


def find_model(conn: dict, display_name: str) -> str | None:
    """The Vertex model (its id) holding the versions of `display_name`, if any."""
    from contrail.platforms.gcp.vertex import parent

    found = list(_models(conn).list_models(request={"parent": parent(conn), "filter": f'display_name="{display_name}"'}))
    return found[0].name.rsplit("/", 1)[-1] if found else None


def find_version(request: dict, context) -> dict | None:
    """The model version an earlier try uploaded for the same MLflow version, as UploadModelOperator returns it
    ({model, model_version_id}). A model's first upload has no parent_model in its plan: the model is looked up by
    its display name, so a retried first upload finds the model its first try made."""
    model_id = request.get("parent_model") or find_model(request, request["model"]["display_name"])
    if not model_id:
        return None
    from contrail.platforms.gcp.vertex import parent

    name = f"{parent(request)}/models/{model_id}"
    wanted = request["model"]["labels"]["mlflow-version"]
    for version in _models(request).list_model_versions(name=name):
        if version.labels.get("mlflow-version") == wanted:
            return {"model": version.name, "model_version_id": version.version_id}
    return None


def plan_mirror(candidate: dict, decision: str | None, names) -> dict:
    from contrail.platforms import cost
    from contrail.platforms.gcp import account

    s = gcp_settings.load()
    conn = account.connection(s)
    s.need("serving_image")
    uri = export_model(candidate["model"], str(candidate["version"]))
    request = {**upload_request(candidate, decision, s, uri, find_model(conn, candidate["model"])), **conn}
    return {"register_version": request, "cost": cost.estimate([], {}, 0.0)}


def console(request: dict, result) -> str | None:
    model = (result.get("model") or "").rsplit("/", 1)[-1] if isinstance(result, dict) else request.get("parent_model")
    base = f"https://console.cloud.google.com/vertex-ai/models?project={request['project_id']}"
    return base if not model else (f"https://console.cloud.google.com/vertex-ai/models/locations/{request['region']}/"
                                   f"models/{model}?project={request['project_id']}")
