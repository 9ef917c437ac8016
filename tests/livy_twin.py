"""A Livy twin: a local server speaking the Livy batch REST API the way an HDInsight cluster's gateway serves
it, running each batch with `spark-submit --master local` over a local copy of the lake. Test code, not
product code.

What HDInsight adds is enforced: every route sits under `/livy`, the gateway wants basic auth (401 without
it), and Livy's CSRF protection refuses a POST or DELETE without an `X-Requested-By` header (400). The
routes the apache-livy provider calls: POST /batches, GET /batches, GET /batches/{id}, GET
/batches/{id}/state, GET /batches/{id}/log?from=&size=, DELETE /batches/{id}. A batch's `file` and the
abfs:// URLs in its arguments are read from Azurite through the lake's connection (tests/lake_copy.py maps
them to a local copy; local Spark cannot read abfs://), and what the job changed goes back. With `fail_next`
set the next batch runs a job that raises, so it ends `dead` with a driver log to show.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import lake_copy

PREFIX = "/livy"
FAILING_JOB = "raise SystemExit('contrail twin: the executors lost their shuffle files (an injected failure)')\n"


class LivyTwin:
    def __init__(self, user: str = "admin", password: str = "twin-gateway-secret"):
        self.user, self.password = user, password
        self.batches: dict[int, dict] = {}
        self.requests: list[dict] = []  # method, path, query, headers, json of every request
        self.errors: list[str] = []
        self.fail_next = False
        self._ids = itertools.count()
        twin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                twin._handle(self)

            def do_POST(self):
                twin._handle(self)

            def do_DELETE(self):
                twin._handle(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "LivyTwin":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        for batch in self.batches.values():
            if batch.get("process") and batch["process"].poll() is None:
                batch["process"].kill()

    def connection(self) -> str:
        """AIRFLOW_CONN_* JSON of the cluster's Livy endpoint as HDInsight documents it: the gateway's URL with
        /livy, and the cluster login."""
        return json.dumps({"conn_type": "livy", "host": f"{self.url}{PREFIX}", "login": self.user, "password": self.password})

    def posted(self) -> list[dict]:
        return [r["json"] for r in self.requests if r["method"] == "POST"]

    def add_batch(self, name: str, state: str = "running") -> int:
        """A batch that was submitted before the test (by anyone) and stays in `state` until deleted; its id."""
        batch_id = next(self._ids)
        self.batches[batch_id] = {"id": batch_id, "name": name, "state": state, "log": [], "body": {"name": name},
                                  "appId": f"application_1764000000000_{batch_id:04d}", "done": threading.Event()}
        return batch_id

    def deleted(self) -> list[int]:
        """The ids of the batches a DELETE asked to kill, in order."""
        return [int(r["path"].rsplit("/", 1)[-1]) for r in self.requests if r["method"] == "DELETE"]

    def wait(self, batch_id: int, timeout: float = 600) -> str:
        self.batches[batch_id]["done"].wait(timeout)
        return self.batches[batch_id]["state"]

    # ---- the protocol ----------------------------------------------------------------------------

    def _handle(self, http: BaseHTTPRequestHandler) -> None:
        url = urlparse(http.path)
        body = http.rfile.read(int(http.headers.get("Content-Length") or 0))
        record = {"method": http.command, "path": url.path, "query": parse_qs(url.query), "headers": dict(http.headers),
                  "json": json.loads(body) if body else None}
        self.requests.append(record)
        expected = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if http.headers.get("Authorization") != expected:
            return self._reply(http, 401, {"message": "the HDInsight gateway wants the cluster login (basic auth)"})
        if http.command in ("POST", "DELETE") and not http.headers.get("X-Requested-By"):
            return self._reply(http, 400, "Missing Required Header for CSRF protection.")
        if not url.path.startswith(PREFIX + "/batches"):
            self.errors.append(f"{http.command} {url.path}: not a Livy batch route under {PREFIX}")
            return self._reply(http, 404, {"msg": f"no route {url.path}"})
        parts = url.path[len(PREFIX):].strip("/").split("/")
        try:
            answer = self._route(http.command, parts, record)
        except KeyError:
            return self._reply(http, 404, {"msg": f"Session '{parts[1]}' not found."})
        self._reply(http, 201 if http.command == "POST" else 200, answer)

    def _route(self, method: str, parts: list[str], record: dict):
        if method == "POST" and parts == ["batches"]:
            return self._view(self._start(record["json"]))
        if method == "GET" and parts == ["batches"]:
            sessions = [self._view(b) for b in self.batches.values()]
            return {"from": 0, "total": len(sessions), "sessions": sessions}
        batch = self.batches[int(parts[1])]
        if method == "DELETE":
            if batch.get("process") and batch["process"].poll() is None:
                batch["process"].kill()
            batch["state"] = "killed"
            return {"msg": "deleted"}
        if parts[2:] == ["state"]:
            return {"id": batch["id"], "state": batch["state"]}
        if parts[2:] == ["log"]:
            start = int(record["query"].get("from", ["0"])[0])
            size = int(record["query"].get("size", ["100"])[0])
            return {"id": batch["id"], "from": start, "total": len(batch["log"]), "log": batch["log"][start:start + size]}
        return self._view(batch)

    @staticmethod
    def _view(batch: dict) -> dict:
        return {"id": batch["id"], "name": batch["name"], "state": batch["state"], "appId": batch["appId"],
                "appInfo": {"driverLogUrl": None, "sparkUiUrl": None}, "log": batch["log"][-10:]}

    @staticmethod
    def _reply(http: BaseHTTPRequestHandler, status: int, answer) -> None:
        data = json.dumps(answer).encode()
        http.send_response(status)
        http.send_header("Content-Type", "application/json")
        http.send_header("Content-Length", str(len(data)))
        http.end_headers()
        http.wfile.write(data)

    # ---- running a batch -------------------------------------------------------------------------

    def _start(self, body: dict) -> dict:
        batch_id = next(self._ids)
        batch = {"id": batch_id, "name": body.get("name"), "state": "starting", "appId": None, "log": [],
                 "body": body, "done": threading.Event(), "fail": self.fail_next}
        self.fail_next = False
        self.batches[batch_id] = batch
        threading.Thread(target=self._run, args=(batch,), daemon=True).start()
        return batch

    def _run(self, batch: dict) -> None:
        try:
            ok = lake_copy.on_copy(lambda argv, _: self._submit(batch, argv), [batch["body"]["file"], *batch["body"].get("args", [])])
            batch["state"] = "success" if ok else "dead"
        except Exception as exc:  # the twin itself broke: the test must see it
            self.errors.append(f"batch {batch['id']}: {exc!r}")
            batch["state"] = "error"
        finally:
            batch["done"].set()

    def _submit(self, batch: dict, argv: list[str]) -> bool:
        """spark-submit of the batch's file (its local copy) with the batch's conf, as the cluster's YARN would."""
        import pyspark

        file = Path(argv[0].removeprefix("file://"))
        if batch["fail"]:  # beside the copy, not in it: what the job changed in the copy goes back to the lake
            file = Path(tempfile.gettempdir()) / f"contrail-livy-twin-failing-{os.getpid()}-{batch['id']}.py"
            file.write_text(FAILING_JOB)
        spark_home = Path(pyspark.__file__).parent
        conf = [item for key, value in batch["body"].get("conf", {}).items()
                if not key.startswith("spark.yarn.") and "PYSPARK_PYTHON" not in key  # the cluster's, not ours
                for item in ("--conf", f"{key}={value}")]
        command = [str(spark_home / "bin/spark-submit"), "--master", "local[1]",
                   "--driver-memory", batch["body"].get("driverMemory", "1g"), *conf, str(file), *argv[1:]]
        env = {**os.environ, "SPARK_HOME": str(spark_home), "PYSPARK_PYTHON": sys.executable,
               "PYSPARK_DRIVER_PYTHON": sys.executable}
        env.pop("SPARK_REMOTE", None)
        env.pop("SPARK_CONNECT_MODE_ENABLED", None)
        batch["state"] = "running"
        batch["appId"] = f"application_1764000000000_{batch['id']:04d}"
        batch["process"] = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        for line in batch["process"].stdout:
            batch["log"].append(line.rstrip("\n"))
        return batch["process"].wait() == 0 and batch["state"] != "killed"
