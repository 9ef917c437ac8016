"""Where MLflow tracks: MLFLOW_TRACKING_URI, an MLflow server or a database store.

The embedded default (contrail.env) tracks into the `mlflow` database of the embedded PostgreSQL,
with the artifacts in `mlflow/artifacts/` of the local data root; with MLFLOW_TRACKING_URI unset,
a SQLite file `mlflow/mlflow.db` there (a single-process fallback). The store is checked before
anything is trained, so an unreachable one is one clear error, not minutes of client retries.
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
    """MLFLOW_TRACKING_URI (its password, if any, masked in the task log), else the SQLite fallback."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        from contrail import masking

        masking.mask_password(uri)
        return uri
    prof = config.profile()
    if not prof.data_root.startswith("file://"):
        raise config.ConfigError(f"profile {prof.name!r} needs MLFLOW_TRACKING_URI (an MLflow server), "
                                 "e.g. http://mlflow:5000; the embedded SQLite store is for local data roots")
    return f"sqlite:///{Path(urlsplit(prof.data_root).path) / 'mlflow' / 'mlflow.db'}"


def shown_uri(uri: str | None = None) -> str:
    """The tracking URI (default: the active one) to name in a message: without its password."""
    from contrail import masking

    return masking.redacted(uri or tracking_uri())


def sqlite_path(uri: str) -> Path | None:
    """The database file of a sqlite:/// tracking URI, else None."""
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


def check_reachable(uri: str, timeout_s: float = 5.0) -> None:
    """Raise TrackingUnavailable naming the URI (without its password) unless the store answers."""
    scheme, shown = urlsplit(uri).scheme, shown_uri(uri)
    if scheme in ("http", "https"):
        import urllib.request

        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout_s) as response:  # nosec B310  # http(s) only
                if response.status != 200:
                    raise TrackingUnavailable(f"MLflow tracking server {shown} answered /health with HTTP {response.status}")
        except OSError as exc:
            raise TrackingUnavailable(f"MLflow tracking server {shown} is unreachable: {exc}. "
                                      "Start it or point MLFLOW_TRACKING_URI at a running one") from exc
    elif scheme.startswith("postgresql"):
        import psycopg2

        try:
            psycopg2.connect(plain_postgres_url(uri), connect_timeout=max(1, int(timeout_s))).close()
        except psycopg2.OperationalError as exc:
            raise TrackingUnavailable(f"MLflow backend store {shown} is unreachable: {' '.join(str(exc).split())} Start it "
                                      "(the embedded one: python -m contrail.postgres start) or point "
                                      "MLFLOW_TRACKING_URI at a running one") from exc
    elif scheme == "sqlite":
        path = sqlite_path(uri)
        if path is None or not path.is_absolute():
            raise config.ConfigError(f"MLFLOW_TRACKING_URI {shown!r}: use an absolute path, sqlite:////abs/path/mlflow.db")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrackingUnavailable(f"cannot create the MLflow store folder {path.parent}: {exc}") from exc
    else:
        raise config.ConfigError(f"MLFLOW_TRACKING_URI {shown!r}: Contrail tracks to an http(s) MLflow server, "
                                 "postgresql+psycopg2://... or sqlite:///...")


def plain_postgres_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL (postgresql+psycopg2://...) as libpq reads it."""
    scheme, sep, rest = url.partition("://")
    return f"postgresql://{rest}" if sep and scheme.startswith("postgresql") else url


def database_store(uri: str) -> bool:
    """Whether MLflow writes this store itself (a database), rather than asking a server."""
    return urlsplit(uri).scheme not in ("http", "https")


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
    # with a database store, artifacts go to the lake (MLflow's default is ./mlruns in the working directory);
    # a server chooses its own (proxied) store
    artifacts = artifact_root(uri).as_uri() if database_store(uri) else None
    try:
        experiment_id = mlflow.create_experiment(experiment, artifact_location=artifacts)
    except mlflow.exceptions.MlflowException:  # created meanwhile by a concurrent run
        experiment_id = mlflow.get_experiment_by_name(experiment).experiment_id
    mlflow.set_experiment(experiment)
    return experiment_id


def artifact_root(uri: str) -> Path:
    """Where a database store's artifacts go: beside a SQLite file; else CONTRAIL_MLFLOW_ARTIFACTS, by default
    `mlflow/artifacts` in the local lake. (An MLflow server keeps its own artifact store.)"""
    db = sqlite_path(uri)
    if db is not None:
        return db.parent / "artifacts"
    if os.environ.get("CONTRAIL_MLFLOW_ARTIFACTS"):
        from contrail import inputs

        return Path(urlsplit(inputs.storage_url(os.environ["CONTRAIL_MLFLOW_ARTIFACTS"], "CONTRAIL_MLFLOW_ARTIFACTS",
                                                ("file",))).path)
    prof = config.profile()
    if not prof.data_root.startswith("file://"):
        raise config.ConfigError(f"MLFLOW_TRACKING_URI {shown_uri(uri)!r} is a database store and profile {prof.name!r} has no "
                                 "local lake for its artifacts: use an MLflow server (http://...) or set "
                                 "CONTRAIL_MLFLOW_ARTIFACTS to a folder")
    return Path(urlsplit(prof.data_root).path) / "mlflow" / "artifacts"


def client():
    from mlflow import MlflowClient

    configure()
    return MlflowClient()
