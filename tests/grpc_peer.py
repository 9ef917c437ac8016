"""What the tests' gRPC protocol peers (dataproc_peer, vertex_peer) share: decoding every call with the library's
own message classes, recording it, and answering it from the peer's `_<method in snake case>`. Test code."""

from __future__ import annotations

import copy
import re

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
