"""Binding the google provider's Dataproc hooks to a `DataprocPeer`, and running operators outside a DAG run as a
worker and a triggerer would. `bound(peer)` puts DataprocHook's and DataprocAsyncHook's client factories on the
peer (the real endpoint is fixed to `{region}-dataproc.googleapis.com:443`), anonymous credentials only, and refuses
any other gRPC channel. Test code, not product code.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import time
import types

import grpc
from dataproc_peer import DataprocPeer

# ---- binding the google provider's hooks to a peer -------------------------------------------------

AIO_CHANNELS: list = []  # (event loop, grpc.aio channel) made for async hooks; run_trigger closes those of its loop
# the `time` the Dataproc hook and operators see under `bound(fast=True)`: their fixed waits (10 s between job and
# batch polls, cluster deletion waits) become 50 ms; everything else is the real clock
FAST_TIME = types.SimpleNamespace(**{**vars(time), "sleep": lambda seconds: time.sleep(min(seconds, 0.05))})


def connection(project: str = "test") -> str:
    """An AIRFLOW_CONN_* value: a google_cloud_platform connection with anonymous credentials, of that project."""
    return json.dumps({"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True, "project": project}})


def _refuse(target, *args, **kwargs):
    raise RuntimeError(f"dataproc_peer: a gRPC channel to {target!r} was asked for; only the peer may be reached")


@contextlib.contextmanager
def bound(peer: DataprocPeer, monkeypatch=None, *, conn_id: str = "google_cloud_default", project: str = "test",
          fast: bool = True):
    """The Dataproc hooks' clients on the peer's insecure channels (grpc.aio ones made in the caller's event loop),
    `conn_id` an anonymous connection of `project`; credentials of any other connection, or any other gRPC channel,
    raise. The patches last as long as the given monkeypatch, or else the block."""
    import pytest
    from airflow.providers.google.cloud.hooks import dataproc as hooks
    from airflow.providers.google.cloud.operators import dataproc as operators
    from google.api_core import grpc_helpers, grpc_helpers_async
    from google.cloud.dataproc_v1.services import (
        batch_controller,
        cluster_controller,
        job_controller,
        workflow_template_service,
    )

    patch = monkeypatch or pytest.MonkeyPatch()
    patch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", connection(project))
    patch.setattr(grpc_helpers, "create_channel", _refuse)
    patch.setattr(grpc_helpers_async, "create_channel", _refuse)
    real = hooks.DataprocHook.get_credentials_and_project_id

    def credentials(hook):
        if not hook._get_field("is_anonymous"):
            raise RuntimeError(f"dataproc_peer: connection {hook.gcp_conn_id!r} is not anonymous; its credentials "
                               "would be looked up for real")
        return real(hook)

    patch.setattr(hooks.DataprocHook, "get_credentials_and_project_id", credentials)
    factories = {"get_cluster_client": cluster_controller, "get_job_client": job_controller,
                 "get_batch_client": batch_controller, "get_template_client": workflow_template_service}
    for factory, module in factories.items():
        name = "".join(word.title() for word in module.__name__.rsplit(".", 1)[1].split("_"))  # JobController, ...
        sync, aio = getattr(module, f"{name}Client"), getattr(module, f"{name}AsyncClient")
        sync_transport, aio_transport = (getattr(module.transports, f"{name}Grpc{kind}Transport") for kind in ("", "AsyncIO"))

        def make_sync(hook, region=None, _client=sync, _transport=sync_transport):
            return _client(transport=_transport(channel=peer.channel()))

        async def make_async(hook, region=None, _client=aio, _transport=aio_transport, _name=factory):
            cache = hook.__dict__.setdefault("_dataproc_peer_clients", {})  # one client a hook, as the real ones
            if _name not in cache:
                AIO_CHANNELS.append((asyncio.get_running_loop(), channel := grpc.aio.insecure_channel(peer.address)))
                cache[_name] = _client(transport=_transport(channel=channel))
            return cache[_name]

        patch.setattr(hooks.DataprocHook, factory, make_sync)
        patch.setattr(hooks.DataprocAsyncHook, factory, make_async)
    if fast:
        patch.setattr(hooks, "time", FAST_TIME)
        patch.setattr(operators, "time", FAST_TIME)
    try:
        yield peer
    finally:
        if monkeypatch is None:
            patch.undo()


# ---- running operators as a worker and a triggerer would -------------------------------------------

def operator_context() -> dict:
    """The least context the Dataproc operators use outside a DAG run: a `ti` keeping what the links push in `xcom`."""
    ti = types.SimpleNamespace(xcom={})
    ti.xcom_push = lambda key, value: ti.xcom.__setitem__(key, value)
    return {"ti": ti}


def run_trigger(trigger) -> dict:
    """The first event's payload of the trigger, re-made from its serialization as the triggerer does."""
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    remade = getattr(importlib.import_module(module), name)(**kwargs)

    async def first():
        events = remade.run()
        try:
            return (await anext(events)).payload
        finally:
            await events.aclose()
            for loop, channel in [c for c in AIO_CHANNELS if c[0] is asyncio.get_running_loop()]:
                AIO_CHANNELS.remove((loop, channel))
                await channel.close()

    return asyncio.run(first())


def resume(operator, context: dict, deferred) -> object:
    """Run a TaskDeferred's trigger to its first event and hand it to the operator's method, as Airflow does."""
    return getattr(operator, deferred.method_name)(context, event=run_trigger(deferred.trigger), **(deferred.kwargs or {}))
