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
# Airflow's [database] sql_alchemy_connect_args for the local SQLite metadata database.
SQLITE_CONNECT_ARGS = {"timeout": 60}


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


def apply(environ: dict | None = None, **overrides: str) -> dict[str, str]:
    """Put the loaded variables (and `overrides`) into os.environ; return what was set."""
    values = {**load(environ=environ), **overrides}
    os.environ.update(values)
    return values


if __name__ == "__main__":
    for key, value in load().items():
        sys.stdout.write(f"export {key}={shlex.quote(value)}\n")
