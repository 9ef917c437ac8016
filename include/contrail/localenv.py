"""Load contrail.env (the local deployment's one environment) with absolute paths.

    eval "$(python -m contrail.localenv)"    # in a shell: exports every variable
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from contrail.config import PROJECT_ROOT

ENV_FILE = PROJECT_ROOT / "contrail.env"
FERNET_SETTING, FERNET_FILE = "AIRFLOW__CORE__FERNET_KEY", "fernet.key"


def load(path: Path = ENV_FILE, environ: dict | None = None, state: str | None = None) -> dict[str, str]:
    """The variables of `path` with {root}/{state} expanded; values already in `environ` win."""
    environ = os.environ if environ is None else environ
    state = state or environ.get("CONTRAIL_STATE_DIR") or str(PROJECT_ROOT / ".contrail")
    values = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(f"{path}:{number}: expected KEY=VALUE, got {line!r}")
        values[key] = environ.get(key) or value.replace("{root}", str(PROJECT_ROOT)).replace("{state}", state)
    return values


def fernet_key(state: str) -> str:
    """The deployment's Fernet key, made once into <state>/fernet.key (mode 600). Airflow encrypts the connections
    and variables it stores in its database with it; without a key it stores them in clear."""
    path = Path(state) / FERNET_FILE
    if not path.exists():
        from cryptography.fernet import Fernet

        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
                out.write(Fernet.generate_key().decode())
        except FileExistsError:  # made meanwhile by another component starting
            pass
    return path.read_text().strip()


def with_secrets(values: dict[str, str], environ: dict | None = None) -> dict[str, str]:
    """`values` plus the deployment's Fernet key (the environment's, else the state folder's)."""
    environ = os.environ if environ is None else environ
    return {FERNET_SETTING: environ.get(FERNET_SETTING) or fernet_key(values["CONTRAIL_STATE_DIR"]), **values}


def apply(environ: dict | None = None, state: str | None = None, **overrides: str) -> dict[str, str]:
    """Put the loaded variables (and `overrides`, and the Fernet key) into os.environ; return what was set."""
    values = with_secrets({**load(environ=environ, state=state), **overrides}, environ)
    os.environ.update(values)
    return values


def private(state: Path, **overrides: str) -> dict[str, str]:
    """A throwaway deployment in `state` for the tests and benchmarks, applied to os.environ.

    contrail.env with every folder inside `state` (lake, landing zone, Airflow home) and its own
    embedded PostgreSQL in `state`/postgres, started here and stopped (then `state` removed) when
    the process exits. It never inherits a developer's environment or running deployment.
    """
    import atexit
    import shutil

    from contrail import postgres

    atexit.register(shutil.rmtree, state, ignore_errors=True)
    pgdata = postgres.start(state / "postgres")
    atexit.register(postgres.stop, pgdata)  # runs before the folder goes
    defaults = {"CONTRAIL_DATA_ROOT": str(state / "data"), "CONTRAIL_LANDING_URL": str(state / "landing"),
                # MLflow's artifacts stay local when a test switches the lake to a cloud profile's bucket
                "CONTRAIL_MLFLOW_ARTIFACTS": str(state / "data" / "mlflow" / "artifacts")}
    values = apply(environ={}, state=str(state), **{**defaults, **overrides})
    (state / "airflow").mkdir(parents=True, exist_ok=True)
    return values


if __name__ == "__main__":
    for key, value in with_secrets(load()).items():
        sys.stdout.write(f"export {key}={shlex.quote(value)}\n")
