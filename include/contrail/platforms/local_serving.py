"""Online serving on the local platform: the champion behind `mlflow models serve` on 127.0.0.1.

One server per model name, started detached (it outlives the task that started it, like an
endpoint), its pid, port and version kept in the state folder. A new champion replaces it; a retry
of the same deployment finds it already serving that version.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from contrail import processes

DEFAULT_PORT = 5055


def port() -> int:
    return int(os.environ.get("CONTRAIL_SERVING_PORT", DEFAULT_PORT))


def _state(model: str) -> Path:
    from contrail.spark.connect import state_dir

    folder = state_dir() / "serving"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{model}.json"


def running(model: str) -> dict | None:
    """The server of `model` this project started, if it is still alive."""
    path = _state(model)
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    return state if processes.alive(state["pid"]) else None


def stop(model: str) -> bool:
    state = running(model)
    _state(model).unlink(missing_ok=True)
    return state is not None and processes.stop(state["pid"], wait=20)


def deploy(request: dict) -> dict:
    """Serve models:/<model>/<version> on the port, replacing a server of another version."""
    from contrail.registry import trust

    model, version, listen = request["model"], str(request["version"]), int(request["port"])
    uri = trust.model_uri(model, version)  # before the server of the current champion is stopped
    state = running(model)
    if state and state["version"] == version and state["port"] == listen:
        return state
    stop(model)
    log = _state(model).with_suffix(".log")
    bin_dir = str(Path(sys.executable).parent)  # mlflow starts uvicorn from PATH
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "OMP_WAIT_POLICY": "PASSIVE",
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m", uri,
           "--env-manager", "local", "-h", "127.0.0.1", "-p", str(listen), "-w", "1"]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    state = {"model": model, "version": version, "port": listen, "pid": proc.pid, "url": f"http://127.0.0.1:{listen}",
             "log": str(log)}
    _state(model).write_text(json.dumps(state))
    return state


def wait_healthy(request: dict, timeout_s: float = 180) -> str:
    """Wait until the server answers /ping; fail with its log's tail if it exits or never answers."""
    state = running(request["model"])
    if state is None:
        raise RuntimeError(f"no server of {request['model']} is running: deploy_endpoint did not start one")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(state["url"] + "/ping", timeout=5) as response:  # nosec B310  # http://127.0.0.1
                if response.status == 200:
                    return state["url"]
        except OSError:
            pass
        if not processes.alive(state["pid"]):
            break
        time.sleep(1)
    tail = "\n".join(Path(state["log"]).read_text(errors="replace").splitlines()[-20:])
    raise RuntimeError(f"mlflow models serve for {request['model']} v{state['version']} is not answering at "
                       f"{state['url']}/ping; the tail of {state['log']}:\n{tail}")


def invoke(endpoint: dict, rows: list[dict]) -> list[float]:
    """P(late) of each row, from the server's /invocations."""
    url = f"http://127.0.0.1:{int(endpoint['port'])}/invocations"
    body = json.dumps({"dataframe_records": rows}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # nosec B310  # http://127.0.0.1, built above
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{url} answered HTTP {exc.code}: {exc.read()[:500]!r}") from None
    return [float(p[1]) for p in answer["predictions"]]
