"""Start, find and stop the local Spark Connect server, so tasks never pay a JVM start each.

A JVM costs 10-60 s to start on a small machine; a backfill of 365 days would pay it per task per
day. The server starts once (on first use, or by `make run`) and every task connects in ~2 s.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from contrail import processes
from contrail.config import PROJECT_ROOT
from contrail.spark.conf import JOB_CONF

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
SERVER_CONF = {
    **JOB_CONF,
    "spark.connect.grpc.binding.address": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # no .crc side files and no _SUCCESS markers in the lake (dynamic overwrite writes none anyway)
    "spark.hadoop.fs.file.impl": "org.apache.hadoop.fs.RawLocalFileSystem",
    "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
}


def state_dir() -> Path:
    path = Path(os.environ.get("CONTRAIL_STATE_DIR") or PROJECT_ROOT / ".contrail")
    path.mkdir(parents=True, exist_ok=True)
    return path


def port() -> int:
    return int(os.environ.get("CONTRAIL_SPARK_CONNECT_PORT", "15102"))


def url() -> str:
    return f"sc://127.0.0.1:{port()}"


def is_up(p: int | None = None) -> bool:
    with contextlib.closing(socket.socket()) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", p or port())) == 0


def spark_submit() -> str:
    """spark-submit from this interpreter's environment (the pip pyspark ships it in bin/)."""
    beside = Path(sys.executable).parent / "spark-submit"
    found = str(beside) if beside.exists() else shutil.which("spark-submit")
    if not found:
        raise RuntimeError(f"spark-submit not found beside {sys.executable} nor on PATH: pip install -r requirements.txt")
    return found


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1", OMP_WAIT_POLICY="PASSIVE")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for client_only in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "SPARK_LOCAL_REMOTE"):
        env.pop(client_only, None)  # these would make the server itself try to be a Connect client
    return env


def ensure_server(timeout: float = 240.0) -> str:
    """Return the server URL, starting the server first if nothing listens on its port."""
    if is_up():
        return url()
    lock_path = state_dir() / "spark-connect.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two tasks starting at once start one server
        if is_up():
            return url()
        log_path = state_dir() / "spark-connect.log"
        cmd = [spark_submit(), "--master", os.environ.get("CONTRAIL_SPARK_MASTER", "local[2]"),
               "--class", SERVER_CLASS, "--name", "contrail-connect",
               "--conf", f"spark.connect.grpc.binding.port={port()}",
               "--driver-memory", os.environ.get("CONTRAIL_SPARK_DRIVER_MEMORY", "2g")]
        for key, value in SERVER_CONF.items():
            cmd += ["--conf", f"{key}={value}"]
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=server_env(),
                                    start_new_session=True, cwd=state_dir())
        (state_dir() / "spark-connect.pid").write_text(str(proc.pid))
        deadline = time.monotonic() + timeout
        while not is_up():
            if proc.poll() is not None:
                raise RuntimeError(f"Spark Connect server exited with {proc.returncode}; last lines of {log_path}:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                proc.terminate()
                raise RuntimeError(f"Spark Connect server not listening on port {port()} after {timeout:.0f} s; see {log_path}")
            time.sleep(0.5)
    return url()


def stop_server(wait: float = 30.0) -> bool:
    """Stop the server this project started (by its pid file); True if one was running."""
    pid_file = state_dir() / "spark-connect.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text())
    pid_file.unlink()
    return processes.stop(pid, wait)


def session():
    """A Spark Connect session on the local server (started if needed)."""
    from pyspark.sql import SparkSession

    return SparkSession.builder.remote(ensure_server()).getOrCreate()


def _tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "start"
    if command == "start":
        print(f"Spark Connect server at {ensure_server()}")
    elif command == "stop":
        print("stopped" if stop_server() else "no server was running")
    else:
        sys.exit(f"usage: python -m contrail.spark.connect [start|stop], not {command!r}")


def remote_session(profile: str):
    """A Spark session on a cloud profile's Spark Connect endpoint (CONTRAIL_SPARK_CONNECT_URL), for Spark inside a task."""
    from contrail.config import ConfigError

    remote = os.environ.get("CONTRAIL_SPARK_CONNECT_URL")
    if not remote:
        raise ConfigError(f"the Spark quality engine on the {profile} profile needs CONTRAIL_SPARK_CONNECT_URL (a Spark Connect "
                          "endpoint, sc://host:15002); or keep CONTRAIL_QUALITY_ENGINE=pandas (auto picks pandas below "
                          "CONTRAIL_QUALITY_SPARK_ROWS rows a day)")
    from pyspark.sql import SparkSession

    return SparkSession.builder.remote(remote).getOrCreate()
