"""Protocol emulators for the cloud profiles' tests: a moto server (S3), gcp-storage-emulator (GCS) and Azurite
(Azure Blob).

Each runs once per test session on a free port: Airflow caches a filesystem per connection id, so a
second server behind the same connection would be invisible to it.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path

AZURITE = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "azurite-blob"
# Azurite's documented development account; the emulator accepts only it (not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(argv: list[str], port: int, name: str, timeout: float = 30):
    """Run `argv` until the block ends, once it listens on 127.0.0.1:`port`."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            assert proc.poll() is None and time.monotonic() < deadline, f"{name} did not start: {' '.join(argv)}"
            time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:  # busy with a last request on a loaded machine: it must still go
            proc.kill()
            proc.wait(10)


class CallLog:
    """WSGI middleware in front of moto: the `service:Action` of every request an Airflow hook sent (their
    User-Agent names Airflow), for checking the deployment's IAM policy against what the code really calls."""

    def __init__(self, app):
        self.app, self.calls = app, set()

    def __call__(self, environ, start_response):
        import io
        import re
        from urllib.parse import parse_qs

        if "Airflow" in environ.get("HTTP_USER_AGENT", ""):
            scope = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
            action = (environ.get("HTTP_X_AMZ_TARGET") or "").rpartition(".")[2]
            if not action and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
                body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                environ["wsgi.input"] = io.BytesIO(body)
                action = (parse_qs(body.decode(errors="replace")).get("Action") or [""])[0]
            if scope and action:
                self.calls.add(f"{scope.group(1)}:{action}")
        return self.app(environ, start_response)


CALLS = CallLog(None)


@contextlib.contextmanager
def moto_server():
    """A moto server in this process (so a test can move an EMR step or a SageMaker job on, as the cloud
    would); every AWS call still goes over HTTP to it. Yields its endpoint URL."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    CALLS.app = server._server.app  # werkzeug reads the app per request: wrap it to record the calls
    server._server.app = CALLS
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextlib.contextmanager
def gcs_emulator():
    """gcp-storage-emulator in this process, in memory (it keeps bucket lifecycle rules, which fake-gcs-server
    drops), taught the one JSON API method it lacks: objects.move (`POST .../o/A/moveTo/o/B`), which gcsfs
    tries first for every rename and would retry for ~40 s on its 501 before copying. Yields its URL, for
    STORAGE_EMULATOR_HOST."""
    import logging

    from gcp_storage_emulator import server
    from gcp_storage_emulator.handlers import objects

    def move(request, response, storage):  # same-bucket move: the copy and the delete GCS does as one call
        bucket, source = request.params["bucket_name"], request.params["object_id"]
        try:
            response.json(objects._copy(request.base_url, storage, bucket, source, bucket, request.params["dest_object_id"]))
        except objects.NotFound:
            response.status = 404
            return
        objects._delete(storage, bucket, source)

    route = (rf"^{server.settings.API_ENDPOINT}/b/(?P<bucket_name>[-.\w]+)/o/(?P<object_id>.*[^/]+)/moveTo/o/"
             r"(?P<dest_object_id>.*[^/]+)$", {"POST": move})
    if route[0] not in {pattern for pattern, _ in server.HANDLERS}:
        server.HANDLERS = (route, *server.HANDLERS)
    logging.getLogger("gcp_storage_emulator").setLevel(logging.WARNING)
    port = free_port()
    emulator = server.create_server("127.0.0.1", port, in_memory=True)
    emulator.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        emulator.stop()


def gcs_environment(endpoint: str, conn_id: str, project: str = "test") -> dict[str, str]:
    """What points the google hooks, gcsfs and gcloud-aio at the GCS emulator: an anonymous connection of the
    project (no credential lookup ever probes the metadata server) and STORAGE_EMULATOR_HOST."""
    from gcp_binding import connection

    return {f"AIRFLOW_CONN_{conn_id.upper()}": connection(project), "STORAGE_EMULATOR_HOST": endpoint,
            "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}  # else gcsfs stalls 60 s per bucket on the emulator


@contextlib.contextmanager
def azurite_blob():
    """Azurite's blob service, in memory; yields its connection string."""
    assert AZURITE.exists(), f"{AZURITE} is missing: run `npm ci` (make test does)"
    port = free_port()
    argv = [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence", "--skipApiVersionCheck"]
    with serving(argv, port, "azurite"):
        yield (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
               f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};")
