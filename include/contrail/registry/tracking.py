"""Where MLflow tracks: MLFLOW_TRACKING_URI if set (an MLflow server), else a SQLite store in the lake.

The embedded default keeps `mlflow/mlflow.db` and `mlflow/artifacts/` inside the local data root.
A server is checked for reachability before anything is trained, so an unreachable server is one
clear error, not minutes of client retries.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from contrail import config

EXPERIMENT = "contrail-flights"


class TrackingUnavailable(RuntimeError):
    """The MLflow tracking store cannot be reached or used."""


def tracking_uri() -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    prof = config.profile()
    if not prof.data_root.startswith("file://"):
        raise config.ConfigError(f"profile {prof.name!r} needs MLFLOW_TRACKING_URI (an MLflow server), "
                                 "e.g. http://mlflow:5000; the embedded SQLite store is for local data roots")
    return f"sqlite:///{Path(urlsplit(prof.data_root).path) / 'mlflow' / 'mlflow.db'}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a sqlite:/// tracking URI, else None."""
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


def check_reachable(uri: str, timeout_s: float = 5.0) -> None:
    """Raise TrackingUnavailable naming the URI unless the store answers."""
    scheme = urlsplit(uri).scheme
    if scheme in ("http", "https"):
        import urllib.request

        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout_s) as response:
                if response.status != 200:
                    raise TrackingUnavailable(f"MLflow tracking server {uri} answered /health with HTTP {response.status}")
        except OSError as exc:
            raise TrackingUnavailable(f"MLflow tracking server {uri} is unreachable: {exc}. "
                                      "Start it or point MLFLOW_TRACKING_URI at a running one") from exc
    elif scheme == "sqlite":
        path = sqlite_path(uri)
        if path is None or not path.is_absolute():
            raise config.ConfigError(f"MLFLOW_TRACKING_URI {uri!r}: use an absolute path, sqlite:////abs/path/mlflow.db")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrackingUnavailable(f"cannot create the MLflow store folder {path.parent}: {exc}") from exc
    else:
        raise config.ConfigError(f"MLFLOW_TRACKING_URI {uri!r}: Contrail tracks to sqlite:///... or an http(s) MLflow server")


def configure(experiment: str = EXPERIMENT) -> str:
    """Point mlflow at the tracking store (checked) and at `experiment`, created if missing; return its id."""
    import mlflow

    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = tracking_uri()
    check_reachable(uri)
    mlflow.set_tracking_uri(uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        mlflow.set_experiment(experiment)
        return found.experiment_id
    db = sqlite_path(uri)
    # with SQLite, artifacts go beside the database (MLflow's default is ./mlruns in the working directory);
    # a server chooses its own (proxied) store
    artifacts = (db.parent / "artifacts").as_uri() if db else None
    try:
        experiment_id = mlflow.create_experiment(experiment, artifact_location=artifacts)
    except mlflow.exceptions.MlflowException:  # created meanwhile by a concurrent run
        experiment_id = mlflow.get_experiment_by_name(experiment).experiment_id
    mlflow.set_experiment(experiment)
    return experiment_id


def client():
    from mlflow import MlflowClient

    configure()
    return MlflowClient()
