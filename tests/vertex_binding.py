"""Binding the google provider's Vertex AI hooks, and the aiplatform SDK under them, to a `VertexPeer`.

Which path each operator takes (google provider 22.8.0, google-cloud-aiplatform 2.7.0):
- CreateCustomJobOperator: `CustomJobHook.get_job_service_client` (a GAPIC JobServiceClient); deferred, its
  CustomJobTrigger polls through `CustomJobAsyncHook.get_job_service_client` (one client a wait).
- CreateHyperparameterTuningJobOperator: the aiplatform SDK (`aiplatform.CustomJob` + `HyperparameterTuningJob`,
  `.run(sync=False)` on the SDK's thread pool, which keeps polling GetHyperparameterTuningJob until the job ends even
  after the task defers); deferred, CreateHyperparameterTuningJobTrigger polls through
  `HyperparameterTuningJobAsyncHook.get_job_service_client` (a new client every poll).
- UploadModelOperator: `ModelServiceHook.get_model_service_client`, waiting on the operation (GetOperation).
The SDK is put on the peer by replacing `aiplatform.initializer.global_config.create_client`: each SDK client wrapper
gets GAPIC clients of every API version over the peer's channel. `aiplatform.init(api_endpoint=..., api_transport=
"grpc")` cannot be used (the SDK then makes a TLS channel through grpc_helpers.create_channel, refused here), and
api_transport="rest" would need a REST peer. The hooks' and the SDK's fixed waits (the SDK sleeps 5 s between polls
and 1 s waiting for creation, the hooks `poll_interval`) become 50 ms under `fast=True`. Test code, not product code.
"""

from __future__ import annotations

import asyncio
import contextlib
import types
from concurrent import futures

import grpc
from gcp_binding import (  # noqa: F401
    AIO_CHANNELS,
    FAST_TIME,
    _refuse,
    connection,
    operator_context,
    resume,
    run_trigger,
)
from vertex_peer import VertexPeer


async def _fast_sleep(seconds, result=None):
    return await asyncio.sleep(min(seconds, 0.05), result)


# the `asyncio` the Vertex AI hooks see under `bound(fast=True)`: their sleeps between polls are at most 50 ms
FAST_ASYNCIO = types.SimpleNamespace(**{**vars(asyncio), "sleep": _fast_sleep})


class _Pool(futures.ThreadPoolExecutor):
    """The SDK's thread pool of a binding, keeping what was submitted so that the binding's end can wait for it."""

    def __init__(self):
        super().__init__(max_workers=4, thread_name_prefix="vertex-peer-sdk")
        self.submitted: list[futures.Future] = []

    def submit(self, fn, /, *args, **kwargs):
        self.submitted.append(future := super().submit(fn, *args, **kwargs))
        return future


@contextlib.contextmanager
def bound(peer: VertexPeer, monkeypatch=None, *, conn_id: str = "google_cloud_default", project: str = "test",
          fast: bool = True):
    """The Vertex AI hooks' clients and the SDK's on the peer's insecure channels (grpc.aio ones made in the caller's
    event loop), `conn_id` an anonymous connection of `project`; credentials of any other connection, or any other
    gRPC channel, raise. The SDK's background runs are waited for (10 s) at the block's end, before the peer may stop.
    The patches last as long as the given monkeypatch, or else the block."""
    import pytest
    from airflow.providers.google.cloud.hooks.vertex_ai import (
        custom_job,
        hyperparameter_tuning_job,
        model_service,
    )
    from google.api_core import grpc_helpers, grpc_helpers_async
    from google.cloud.aiplatform import base, initializer, jobs
    from google.cloud.aiplatform_v1.services import job_service, pipeline_service
    from google.cloud.aiplatform_v1.services import model_service as models

    patch = monkeypatch or pytest.MonkeyPatch()
    patch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", connection(project))
    patch.setattr(grpc_helpers, "create_channel", _refuse)
    patch.setattr(grpc_helpers_async, "create_channel", _refuse)
    sync_hooks = (custom_job.CustomJobHook, hyperparameter_tuning_job.HyperparameterTuningJobHook,
                  model_service.ModelServiceHook)
    for hook_class in sync_hooks:
        def credentials(hook, _real=hook_class.get_credentials_and_project_id):
            if not hook._get_field("is_anonymous"):
                raise RuntimeError(f"vertex_peer: connection {hook.gcp_conn_id!r} is not anonymous; its credentials "
                                   "would be looked up for real")
            return _real(hook)

        patch.setattr(hook_class, "get_credentials_and_project_id", credentials)
    factories = [  # (sync hook, async hook or None, factory, GAPIC service module)
        (custom_job.CustomJobHook, custom_job.CustomJobAsyncHook, "get_job_service_client", job_service),
        (custom_job.CustomJobHook, custom_job.CustomJobAsyncHook, "get_pipeline_service_client", pipeline_service),
        (hyperparameter_tuning_job.HyperparameterTuningJobHook, hyperparameter_tuning_job.HyperparameterTuningJobAsyncHook,
         "get_job_service_client", job_service),
        (model_service.ModelServiceHook, None, "get_model_service_client", models)]
    for sync_hook, async_hook, factory, module in factories:
        name = "".join(word.title() for word in module.__name__.rsplit(".", 1)[1].split("_"))  # JobService, ...
        sync, aio = getattr(module, f"{name}Client"), getattr(module, f"{name}AsyncClient")
        sync_transport, aio_transport = (getattr(module.transports, f"{name}Grpc{kind}Transport")
                                         for kind in ("", "AsyncIO"))

        def make_sync(hook, region=None, _client=sync, _transport=sync_transport):
            return _client(transport=_transport(channel=peer.channel()))

        async def make_async(hook, region=None, _client=aio, _transport=aio_transport, _name=factory):
            cache = hook.__dict__.setdefault("_vertex_peer_clients", {})  # one channel a hook, closed by run_trigger
            if _name not in cache:
                AIO_CHANNELS.append((asyncio.get_running_loop(), channel := grpc.aio.insecure_channel(peer.address)))
                cache[_name] = _client(transport=_transport(channel=channel))
            return cache[_name]

        patch.setattr(sync_hook, factory, make_sync)
        if async_hook is not None:
            patch.setattr(async_hook, factory, make_async)

    def create_client(client_class, credentials=None, location_override=None, **kwargs):
        client = object.__new__(client_class)  # a utils.ClientWithOverride: one GAPIC client per API version
        client._clients = {version: gapic(transport=gapic.get_transport_class("grpc")(channel=peer.channel()))
                           for version, gapic in client_class._version_map}
        return client

    patch.setattr(initializer.global_config, "create_client", create_client)
    patch.setattr(initializer, "global_pool", pool := _Pool())
    if fast:
        for module in (custom_job, hyperparameter_tuning_job):
            patch.setattr(module, "asyncio", FAST_ASYNCIO)
        for module in (custom_job, jobs, base):
            patch.setattr(module, "time", FAST_TIME)
    try:
        yield peer
    finally:
        if futures.wait(pool.submitted, timeout=10).not_done:
            peer.errors.append("an SDK background run (a job's polling) did not end within 10 s of the binding's end")
        pool.shutdown(wait=False, cancel_futures=True)
        if monkeypatch is None:
            patch.undo()
