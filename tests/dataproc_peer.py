"""A Dataproc protocol peer for tests: a gRPC server on 127.0.0.1 speaking ClusterController, JobController,
BatchController and google.longrunning.Operations with the library's own messages, keeping every request decoded.
`gcp_binding.bound(peer)` puts the provider's Dataproc hooks on it.

Time moves with reads, not the clock: a resource in transition (cluster CREATING/DELETING, job or batch
PENDING/RUNNING) is seen in progress by its first `pending_reads` reads (GetCluster/GetJob/GetBatch, or GetOperation
of its operation) and ends at a later one. A job's or batch's end is the player's: `player(job_or_batch) -> state |
(state, details) | (state, details, driver_output_uri)`, called on a thread at submission with the decoded resource
(DONE/SUCCEEDED, ERROR/FAILED or CANCELLED, for either); one that raises ends it in ERROR, kept in `peer.errors`.
"""

from __future__ import annotations

import copy
import datetime
import functools
import re
import threading
import uuid

import grpc
import grpc_peer
from google.cloud import dataproc_v1 as dp
from google.longrunning import operations_pb2
from google.protobuf import any_pb2, empty_pb2

JOB_END = {"DONE": "DONE", "SUCCEEDED": "DONE", "ERROR": "ERROR", "FAILED": "ERROR", "CANCELLED": "CANCELLED"}
BATCH_END = {"DONE": "SUCCEEDED", "SUCCEEDED": "SUCCEEDED", "ERROR": "FAILED", "FAILED": "FAILED", "CANCELLED": "CANCELLED"}
ENDED = {"DONE", "ERROR", "CANCELLED", "SUCCEEDED", "FAILED"}
GROUPS = {  # the state groups of Dataproc's list filters
    "cluster": {"ACTIVE": {"CREATING", "UPDATING", "RUNNING"}, "INACTIVE": {"DELETING", "ERROR", "STOPPING", "STOPPED"}},
    "job": {"ACTIVE": {"PENDING", "SETUP_DONE", "RUNNING", "CANCEL_PENDING", "CANCEL_STARTED"},
            "NON_ACTIVE": {"DONE", "ERROR", "CANCELLED"}},
    "batch": {},
}
NAME = re.compile(r"projects/([^/]+)/(?:regions|locations)/([^/]+)(?:/batches/([^/]+))?")
Code = grpc.StatusCode


def default_player(resource) -> str:
    return "DONE"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _any(message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(type(message).pb(message) if hasattr(type(message), "pb") else message)
    return packed


_Abort = grpc_peer.Abort


class _Res:
    """A cluster, job or batch: its message, the reads left that see it in progress, its end and last operation."""

    def __init__(self, kind: str, key: tuple, msg, reads: int, outcome: tuple | None = None):
        self.kind, self.key, self.msg, self.reads, self.outcome = kind, key, msg, reads, outcome
        self.op: operations_pb2.Operation | None = None
        self.played: threading.Event | None = None  # set when the player has returned

    def state(self) -> str:
        return (self.msg.state if self.kind == "batch" else self.msg.status.state).name


class DataprocPeer(grpc_peer.Peer):
    def __init__(self, player=default_player, pending_reads: int = 1):
        super().__init__(METHODS, "Dataproc", player, pending_reads)
        self.clusters: dict[tuple, _Res] = {}  # (project, region, name) -> _Res, and so for jobs and batches
        self.jobs: dict[tuple, _Res] = {}
        self.batches: dict[tuple, _Res] = {}
        self._ops: dict[str, _Res] = {}
        self._once: dict[tuple, object] = {}  # (method, request_id) -> what the first such request was answered

    def _sent(self, method: str, resource, ident, wanted: str | None = None):
        found = [resource(r) for r in self.calls(method) if wanted in (None, ident(r))]
        assert found, f"no {method} of {wanted or 'any'} (the peer received {self.methods()})"
        return found[-1]

    def _find(self, table: str, name: str):
        with self._lock:
            found = [res.msg for key, res in getattr(self, table).items() if key[-1] == name]
            return copy.deepcopy(found[0]) if found else None

    # the Cluster, Job or Batch of the last CreateCluster, SubmitJob or CreateBatch (of that name or id)
    created_cluster = functools.partialmethod(_sent, "CreateCluster", lambda r: r.cluster, lambda r: r.cluster.cluster_name)
    submitted_job = functools.partialmethod(_sent, "SubmitJob", lambda r: r.job, lambda r: r.job.reference.job_id)
    created_batch = functools.partialmethod(_sent, "CreateBatch", lambda r: r.batch, lambda r: r.batch_id)
    # the peer's current copy of the cluster, job or batch of that name or id (in any project and region), or None
    cluster = functools.partialmethod(_find, "clusters")
    job = functools.partialmethod(_find, "jobs")
    batch = functools.partialmethod(_find, "batches")

    def add_cluster(self, name: str, project: str = "test", region: str = "europe-west1", config: dict | None = None,
                    state: str = "RUNNING", labels: dict | None = None) -> dp.Cluster:
        """A cluster that exists before the test (no request is recorded)."""
        cluster = dp.Cluster(project_id=project, cluster_name=name, config=config or {}, labels=labels or {},
                             cluster_uuid=str(uuid.uuid4()), status={"state": state, "state_start_time": _now()})
        with self._lock:
            self.clusters[(project, region, name)] = _Res("cluster", (project, region, name), cluster, 0, (state, "", None))
        return dp.Cluster(cluster)

    # ---- the transitions -----------------------------------------------------------------------
    def _read(self, res: _Res) -> None:
        """A read of a resource (or of its operation): in progress while reads are left, else at its end if known."""
        if res.reads > 0:
            res.reads -= 1
            if res.kind != "cluster" and res.state() == "PENDING":
                self._set(res, "RUNNING", "")
        else:
            if res.outcome is None and res.played is not None:  # a quick player's end is waited for a moment (1 s),
                self._lock.release()                              # so that request sequences are repeatable
                try:
                    res.played.wait(1)
                finally:
                    self._lock.acquire()
            self._settle(res)

    def _settle(self, res: _Res) -> None:
        if res.outcome is None or (res.op is not None and res.op.done):
            return
        state, details, uri = res.outcome
        if res.kind == "cluster":
            if res.state() == "DELETING":
                self.clusters.pop(res.key, None)
                res.op.response.CopyFrom(_any(empty_pb2.Empty()))
            elif res.state() == "CREATING":
                res.msg.status_history.append(res.msg.status)
                res.msg.status = dp.ClusterStatus(state=state, detail=details, state_start_time=_now())
                res.op.response.CopyFrom(_any(res.msg))
            if res.op is not None:
                res.op.done = True
        elif res.state() not in ENDED:
            self._set(res, (JOB_END if res.kind == "job" else BATCH_END)[state], details)
            if uri and res.kind == "job":
                res.msg.driver_output_resource_uri = uri
            elif uri:
                res.msg.runtime_info.output_uri = uri

    def _set(self, res: _Res, state: str, details: str) -> None:
        """A job's or batch's next state, the one before it kept in its history."""
        msg = res.msg
        if res.kind == "job":
            msg.status_history.append(msg.status)
            msg.status, msg.done = dp.JobStatus(state=state, details=details, state_start_time=_now()), state in ENDED
            return
        msg.state_history.append(dp.Batch.StateHistory(state=msg.state, state_message=msg.state_message,
                                                       state_start_time=msg.state_time))
        msg.state, msg.state_message, msg.state_time = state, details, _now()
        if state in ENDED:
            res.op.done = True
            if state == "SUCCEEDED":
                res.op.response.CopyFrom(_any(msg))
            else:  # unverified against the real service: a failed or cancelled batch's operation carries an error
                res.op.error.code, res.op.error.message = Code.UNKNOWN.value[0], details or state

    def _play(self, res: _Res, player, subject) -> None:
        try:
            outcome = player(subject)
        except BaseException as e:  # noqa: BLE001  (the player broke, even by SystemExit: the resource fails, the test sees why)
            self.errors.append(f"the player raised on {res.key}: {e!r}")
            outcome = ("ERROR", f"the player raised {e!r}")
        state, details, uri = (((outcome,) if isinstance(outcome, str) else tuple(outcome)) + ("", None))[:3]
        if str(state).upper() not in JOB_END:
            self.errors.append(f"the player ended {res.key} in {state!r}: choose one of {sorted(JOB_END)}")
            state, details = "ERROR", f"the player gave the state {state!r}"
        with self._lock:
            res.outcome = (str(state).upper(), details or "", uri)
            if res.reads == 0:
                self._settle(res)
        res.played.set()

    def _start(self, table: dict, res: _Res, request_id: str, answer) -> None:
        table[res.key], res.played = res, threading.Event()
        if request_id:
            self._once[(res.kind, request_id)] = answer
        threading.Thread(target=self._play, args=(res, self.player, type(res.msg)(res.msg)), daemon=True).start()

    def _operation(self, res: _Res, metadata, request_id: str) -> operations_pb2.Operation:
        name = f"projects/{res.key[0]}/regions/{res.key[1]}/operations/{uuid.uuid4()}"
        res.op = operations_pb2.Operation(name=name, metadata=_any(metadata))
        self._ops[name] = res
        if request_id:
            self._once[(type(metadata).__name__, metadata.operation_type, request_id)] = res.op
        return res.op

    def _again(self, request_id: str, *what):
        """What the first request of this request id was answered, if this is a repeat."""
        return self._once.get((*what, request_id)) if request_id else None

    def _get(self, table: dict, key: tuple, what: str, absent_to: str = "") -> _Res | None:
        """The resource of that key, NOT_FOUND if there is none; or, given `absent_to` (a verb), ALREADY_EXISTS if any."""
        name = f"{what} projects/{key[0]}/regions/{key[1]}/{what.lower()}s/{key[2]}"
        if absent_to and key in table:
            raise _Abort(Code.ALREADY_EXISTS, f"Already exists: Failed to {absent_to} {what.lower()}: {name}")
        if not absent_to and key not in table:
            raise _Abort(Code.NOT_FOUND, f"Not found: {name}")
        return table.get(key)

    # ---- ClusterController ---------------------------------------------------------------------
    def _create_cluster(self, req: dp.CreateClusterRequest):
        if op := self._again(req.request_id, "ClusterOperationMetadata", "CREATE"):
            return op
        key = (req.project_id, req.region, req.cluster.cluster_name)
        if not key[2]:
            raise _Abort(Code.INVALID_ARGUMENT, "Cluster name is required")
        self._get(self.clusters, key, "Cluster", "create")
        cluster = dp.Cluster(req.cluster, project_id=req.project_id, cluster_uuid=str(uuid.uuid4()),
                             status={"state": "CREATING", "state_start_time": _now()})
        res = self.clusters[key] = _Res("cluster", key, cluster, self.pending_reads, ("RUNNING", "", None))
        return self._operation(res, dp.ClusterOperationMetadata(
            cluster_name=key[2], cluster_uuid=cluster.cluster_uuid, operation_type="CREATE",
            status={"state": "PENDING"}, labels=dict(cluster.labels)), req.request_id)

    def _get_cluster(self, req: dp.GetClusterRequest):
        self._read(res := self._get(self.clusters, (req.project_id, req.region, req.cluster_name), "Cluster"))
        return self._get(self.clusters, res.key, "Cluster").msg  # NOT_FOUND if this read ended its deletion

    def _list_clusters(self, req: dp.ListClustersRequest):
        return dp.ListClustersResponse(clusters=[r.msg for k, r in self.clusters.items() if k[:2] == (
            req.project_id, req.region) and _matches(req.filter, "cluster", {
                "clusterName": k[2], "cluster_name": k[2], "clusterUuid": r.msg.cluster_uuid, "status.state": r.state()},
                r.msg.labels)])

    def _delete_cluster(self, req: dp.DeleteClusterRequest):
        if op := self._again(req.request_id, "ClusterOperationMetadata", "DELETE"):
            return op
        res = self._get(self.clusters, (req.project_id, req.region, req.cluster_name), "Cluster")
        if res.state() == "DELETING" or req.cluster_uuid not in ("", res.msg.cluster_uuid):
            raise _Abort(Code.FAILED_PRECONDITION, f"Cluster {req.cluster_name} is {res.state()}, uuid {res.msg.cluster_uuid}")
        res.msg.status_history.append(res.msg.status)
        res.msg.status = dp.ClusterStatus(state="DELETING", state_start_time=_now())
        res.reads, res.outcome = self.pending_reads, ("GONE", "", None)
        return self._operation(res, dp.ClusterOperationMetadata(
            cluster_name=req.cluster_name, cluster_uuid=res.msg.cluster_uuid, operation_type="DELETE"), req.request_id)

    # ---- JobController -------------------------------------------------------------------------
    def _submit_job(self, req: dp.SubmitJobRequest):
        if res := self._again(req.request_id, "job"):
            return res.msg
        job = dp.Job(req.job)
        job.reference.project_id = job.reference.project_id or req.project_id
        job.reference.job_id = job.reference.job_id or uuid.uuid4().hex
        key = (req.project_id, req.region, job.reference.job_id)
        self._get(self.jobs, key, "Job", "submit")
        if job.placement.cluster_name:
            cluster = self._get(self.clusters, key[:2] + (job.placement.cluster_name,), "Cluster")
            if cluster.state() != "RUNNING":
                raise _Abort(Code.FAILED_PRECONDITION, f"Cluster {cluster.key[2]} is {cluster.state()}, not RUNNING")
            job.placement.cluster_uuid = cluster.msg.cluster_uuid
        job.job_uuid, job.status = str(uuid.uuid4()), dp.JobStatus(state="PENDING", state_start_time=_now())
        job.driver_control_files_uri = (f"gs://dataproc-staging-{key[1]}-{key[0]}/google-cloud-dataproc-metainfo/"
                                        f"{job.placement.cluster_uuid or 'none'}/jobs/{key[2]}/")
        job.driver_output_resource_uri = job.driver_control_files_uri + "driveroutput"
        res = _Res("job", key, job, self.pending_reads)
        self._start(self.jobs, res, req.request_id, res)
        return job

    def _get_job(self, req: dp.GetJobRequest):
        self._read(res := self._get(self.jobs, (req.project_id, req.region, req.job_id), "Job"))
        return res.msg

    def _list_jobs(self, req: dp.ListJobsRequest):
        matcher = {1: GROUPS["job"]["ACTIVE"], 2: GROUPS["job"]["NON_ACTIVE"]}.get(int(req.job_state_matcher))
        return dp.ListJobsResponse(jobs=[
            r.msg for k, r in self.jobs.items() if k[:2] == (req.project_id, req.region)
            and req.cluster_name in ("", r.msg.placement.cluster_name) and (matcher is None or r.state() in matcher)
            and _matches(req.filter, "job", {"status.state": r.state()}, r.msg.labels)])

    def _cancel_job(self, req: dp.CancelJobRequest):
        res = self._get(self.jobs, (req.project_id, req.region, req.job_id), "Job")
        if res.state() in ENDED:
            raise _Abort(Code.FAILED_PRECONDITION, f"Job {req.job_id} is {res.state()}")
        self._set(res, "CANCELLED", "Job cancelled by CancelJob")  # at once: no CANCEL_PENDING step
        return res.msg

    # ---- BatchController -----------------------------------------------------------------------
    def _batch_key(self, name: str) -> tuple:
        if not (found := NAME.fullmatch(name)):
            raise _Abort(Code.INVALID_ARGUMENT, f"Malformed name {name!r}")
        return found.groups()

    def _create_batch(self, req: dp.CreateBatchRequest):
        if op := self._again(req.request_id, "BatchOperationMetadata", "BATCH"):
            return op
        project, region, _ = self._batch_key(req.parent)
        key = (project, region, req.batch_id or uuid.uuid4().hex)
        self._get(self.batches, key, "Batch", "create")
        batch = dp.Batch(req.batch, name=f"projects/{project}/locations/{region}/batches/{key[2]}",
                         uuid=str(uuid.uuid4()), state="PENDING", create_time=_now(), state_time=_now())
        res = _Res("batch", key, batch, self.pending_reads)
        op = self._operation(res, dp.BatchOperationMetadata(batch=batch.name, batch_uuid=batch.uuid, create_time=_now(),
                                                            operation_type="BATCH", labels=dict(batch.labels)),
                             req.request_id)
        self._start(self.batches, res, "", op)
        return op

    def _get_batch(self, req: dp.GetBatchRequest):
        self._read(res := self._get(self.batches, self._batch_key(req.name), "Batch"))
        return res.msg

    def _list_batches(self, req: dp.ListBatchesRequest):
        here = self._batch_key(req.parent)[:2]
        return dp.ListBatchesResponse(batches=[r.msg for k, r in self.batches.items() if k[:2] == here and _matches(
            req.filter, "batch", {"batch_id": k[2], "batch_uuid": r.msg.uuid, "state": r.state()}, r.msg.labels)])

    def _delete_batch(self, req: dp.DeleteBatchRequest):
        res = self._get(self.batches, self._batch_key(req.name), "Batch")
        if res.state() not in ENDED:
            raise _Abort(Code.FAILED_PRECONDITION, f"Batch {res.key[2]} is {res.state()}")
        del self.batches[res.key]
        return empty_pb2.Empty()

    # ---- Operations ----------------------------------------------------------------------------
    def _op(self, name: str) -> _Res:
        if name not in self._ops:
            raise _Abort(Code.NOT_FOUND, f"Not found: Operation {name}")
        return self._ops[name]

    def _get_operation(self, req: operations_pb2.GetOperationRequest):
        self._read(res := self._op(req.name))
        return res.op

    def _cancel_operation(self, req: operations_pb2.CancelOperationRequest):
        if (res := self._op(req.name)).kind == "batch" and res.state() not in ENDED:
            self._set(res, "CANCELLED", "Batch cancelled by CancelOperation")
        return empty_pb2.Empty()


OP, EMPTY = operations_pb2.Operation, empty_pb2.Empty
SERVICES = {  # service -> method -> (request, response); each is answered by DataprocPeer._<method in snake case>
    "google.cloud.dataproc.v1.ClusterController": {
        "CreateCluster": (dp.CreateClusterRequest, OP), "GetCluster": (dp.GetClusterRequest, dp.Cluster),
        "ListClusters": (dp.ListClustersRequest, dp.ListClustersResponse), "DeleteCluster": (dp.DeleteClusterRequest, OP)},
    "google.cloud.dataproc.v1.JobController": {
        "SubmitJob": (dp.SubmitJobRequest, dp.Job), "GetJob": (dp.GetJobRequest, dp.Job),
        "ListJobs": (dp.ListJobsRequest, dp.ListJobsResponse), "CancelJob": (dp.CancelJobRequest, dp.Job)},
    "google.cloud.dataproc.v1.BatchController": {
        "CreateBatch": (dp.CreateBatchRequest, OP), "GetBatch": (dp.GetBatchRequest, dp.Batch),
        "ListBatches": (dp.ListBatchesRequest, dp.ListBatchesResponse), "DeleteBatch": (dp.DeleteBatchRequest, EMPTY)},
    "google.longrunning.Operations": {
        "GetOperation": (operations_pb2.GetOperationRequest, OP),
        "CancelOperation": (operations_pb2.CancelOperationRequest, EMPTY)},
}
METHODS = grpc_peer.method_table(SERVICES)



def _matches(expr: str, kind: str, fields: dict[str, str], labels) -> bool:
    """Dataproc's list filter (`field = value [AND field = value]...`: states, state groups, names, `labels.K`)."""
    for term in [t for t in re.split(r"\s+AND\s+", expr.strip(), flags=re.I) if t]:
        if not (found := re.fullmatch(r"\s*([\w.\-]+)\s*[=:]\s*\"?([^\"]*?)\"?\s*", term)):
            raise ValueError(f"the Dataproc peer cannot read the filter term {term!r}")
        field, value = found.groups()
        if field.startswith("labels."):
            ok = labels.get(field[len("labels."):]) is not None and value in ("*", labels[field[len("labels."):]])
        elif field in fields:
            ok = fields[field] in (GROUPS[kind].get(value.upper(), {value.upper()}) if field.endswith("state") else {value})
        else:
            raise ValueError(f"the Dataproc peer does not filter {kind}s on {field!r}")
        if not ok:
            return False
    return True
