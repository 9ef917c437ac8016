"""Local peers of the protocols the deployment speaks outward, recording exactly what they receive:
a webhook (Slack's incoming webhooks, or any JSON endpoint) and a StatsD server (UDP)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookPeer:
    def __init__(self):
        self.requests: list[dict] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                peer.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                      "json": json.loads(body or b"null")})
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def connection(self, path: str) -> str:
        """AIRFLOW_CONN_* JSON of an http connection to `path` on this peer."""
        return json.dumps({"conn_type": "http", "host": f"{self.url}{path}"})

    def events(self, event: str) -> list[dict]:
        return [r["json"] for r in self.requests if (r["json"] or {}).get("event") == event]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class StatsdPeer:
    """A StatsD server on a UDP port of 127.0.0.1: keeps every metric line (`name:value|type`) it receives."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.lines: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                packet = self.sock.recv(65535)
            except OSError:  # closed
                return
            self.lines.extend(line for line in packet.decode(errors="replace").splitlines() if line)

    def values(self, name: str) -> list[str]:
        """The values received for metric `name`, in order."""
        return [line.split(":", 1)[1].split("|")[0] for line in list(self.lines) if line.split(":", 1)[0] == name]

    def close(self) -> None:
        self.sock.close()
