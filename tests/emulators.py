"""Protocol emulators for the cloud profiles' tests: a moto server (S3) and Azurite (Azure Blob).

Each runs once per test session on a free port: Airflow caches a filesystem per connection id, so a
second server behind the same connection would be invisible to it.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
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
        proc.wait(10)


@contextlib.contextmanager
def moto_s3():
    """A moto server; yields its endpoint URL."""
    port = free_port()
    with serving([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], port, "moto server"):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def azurite_blob():
    """Azurite's blob service, in memory; yields its connection string."""
    assert AZURITE.exists(), f"{AZURITE} is missing: run `npm ci` (make test does)"
    port = free_port()
    argv = [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence", "--skipApiVersionCheck"]
    with serving(argv, port, "azurite"):
        yield (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
               f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};")
