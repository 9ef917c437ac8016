"""What the tests' gRPC protocol peers (dataproc_peer, vertex_peer) share: a server on 127.0.0.1 decoding every
call with the library's own message classes, recording it, and answering it from the peer's `_<method in snake
case>`; the shared channel clients are bound to; what tests read of the calls. Test code."""

from __future__ import annotations

import copy
import re
import threading
from concurrent import futures

import grpc

Code = grpc.StatusCode


class Abort(Exception):
    """(status code, message): what the call is answered."""


def method_table(services: dict) -> dict:
    """`/<service>/<method>` -> (method, request class, response class), from {service: {method: (request, response)}}."""
    return {f"/{service}/{method}": (method, *pair) for service, table in services.items() for method, pair in table.items()}


class Handler(grpc.GenericRpcHandler):
    """Every call is decoded and recorded in `peer.requests` under its method's name (an unknown one by its path, and
    answered UNIMPLEMENTED). An Abort answers its status; a ValueError (a filter the peer cannot read) is
    INVALID_ARGUMENT; any other exception is the peer's own bug, answered INTERNAL and kept in `peer.errors`."""

    def __init__(self, peer, methods: dict, name: str):
        self.peer, self.methods, self.name = peer, methods, name

    def service(self, details):
        peer, name = self.peer, self.name
        method, request, response = self.methods.get(details.method, (details.method, None, None))
        answer = getattr(peer, "_" + re.sub(r"(?<!^)([A-Z])", r"_\1", method).lower(), None) if request else None

        def call(message, context):
            with peer._lock:
                peer.requests.append((method, message))
                try:
                    if answer is None:
                        raise Abort(Code.UNIMPLEMENTED, f"the {name} peer does not implement {method}")
                    return copy.deepcopy(answer(message))  # a copy goes out: the players' threads change the original
                except Abort as e:
                    error = e.args
                except ValueError as e:
                    error = (Code.INVALID_ARGUMENT, str(e))
                except Exception as e:  # noqa: BLE001
                    peer.errors.append(f"{method} raised {e!r}")
                    error = (Code.INTERNAL, f"the {name} peer failed: {e!r}")
            context.abort(*error)

        return grpc.unary_unary_rpc_method_handler(
            call, request_deserializer=getattr(request, "deserialize", getattr(request, "FromString", None)),
            response_serializer=getattr(response, "serialize", lambda message: message.SerializeToString()))


class Peer:
    """A peer's server (started by `with`), its shared synchronous channel, and the calls it received. `player`
    ends what the peer starts (see each peer), `pending_reads` how many reads see it in progress first."""

    def __init__(self, methods: dict, name: str, player, pending_reads: int):
        self.player, self.pending_reads = player, pending_reads
        self.requests: list[tuple[str, object]] = []  # (method, decoded request), in arrival order
        self.errors: list[str] = []  # the players' and the peer's own failures
        self._lock, self._channel = threading.RLock(), None
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        self.server.add_generic_rpc_handlers([Handler(self, methods, name)])
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{self.port}"

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._channel is not None:
            self._channel.close()
        self.server.stop(grace=None)

    def channel(self) -> grpc.Channel:
        """The peer's synchronous channel, shared by every sync client bound to it."""
        with self._lock:
            self._channel = self._channel or grpc.insecure_channel(self.address)
            return self._channel

    def calls(self, method: str) -> list:
        return [request for name, request in self.requests if name == method]

    def methods(self) -> list[str]:
        return [name for name, _ in self.requests]

    def last(self, method: str):
        assert self.calls(method), f"the peer received no {method} (it received {self.methods()})"
        return self.calls(method)[-1]
