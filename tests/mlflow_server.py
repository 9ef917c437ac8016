"""A real `mlflow server` on a private database of the session's PostgreSQL, for registry tests against the server."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from contrail import postgres


def _psql(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(postgres.url("postgres"), connect_timeout=5)
    conn.autocommit = True
    try:
        conn.cursor().execute(sql)
    finally:
        conn.close()


@contextlib.contextmanager
def running(workdir: Path, port: int | None = None):
    """Yield (tracking URI, lock URL) of a fresh server (on a free port unless given); drop its database afterwards."""
    if port is None:
        from emulators import free_port

        port = free_port()
    db = f"contrail_test_mlflow_{os.getpid()}"
    _psql(f"DROP DATABASE IF EXISTS {db}")
    _psql(f"CREATE DATABASE {db}")
    log = open(workdir / "mlflow-server.log", "wb")
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("MLFLOW_TRACKING_URI", None)
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    proc = subprocess.Popen(
        [str(mlflow_bin), "server", "--backend-store-uri", postgres.url(db, driver="postgresql+psycopg2"),
         "--artifacts-destination", str(workdir / "mlflow-artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(uri + "/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start; log: {(workdir / 'mlflow-server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield uri, postgres.url(db)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        with contextlib.suppress(Exception):
            _psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
