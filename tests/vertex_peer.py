"""A Vertex AI protocol peer for tests: a gRPC server on 127.0.0.1 speaking google.cloud.aiplatform.v1 JobService
(custom and tuning jobs), ModelService (uploads, models, versions) and google.longrunning.Operations with aiplatform_v1's
own messages, keeping every request decoded; `vertex_binding.bound(peer)` binds the provider's hooks and the SDK.

Time moves with reads, as in dataproc_peer: a job is created JOB_STATE_PENDING, seen in progress by its first
`pending_reads` Get*Job reads (the first makes it RUNNING) and ends at a later one, as `player(job) -> state | (state,
error message) | (state, error message, trials)` says, called on a thread with the decoded job: SUCCEEDED, FAILED or
CANCELLED (JOB_STATE_ optional); trials (Trial messages or dicts) go on the finished tuning job; a player that raises
fails it (`peer.errors`). An operation (UploadModel, Delete*Job) is done after `pending_reads` in-progress GetOperations.
As the real service: names carry the project NUMBER (`peer.number(project)`; requests may give either), ids are numeric,
a model's first version has the alias `default`, an alias given to a version leaves the one that had it (Model Registry
docs), a cancelled job's error has code 1. Unverified: the INVALID_ARGUMENT checks, a failed job's code 3, list order.
"""

from __future__ import annotations

import copy
import datetime
import functools
import re
import threading
import types
import uuid
import zlib

import grpc
import grpc_peer
from google.cloud import aiplatform_v1 as v1
from google.longrunning import operations_pb2
from google.protobuf import any_pb2, empty_pb2

Code = grpc.StatusCode
NOT_FOUND, PRECONDITION = Code.NOT_FOUND, Code.FAILED_PRECONDITION
ENDED = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED", "JOB_STATE_PAUSED"}
ENDS = ("SUCCEEDED", "FAILED", "CANCELLED")
NAME = re.compile(r"projects/([^/]+)/locations/([^/]+)(?:/(customJobs|hyperparameterTuningJobs|models)/([^/@]+)(?:@(.+))?)?")
LABEL_KEY, LABEL_VALUE = re.compile(r"[a-z][a-z0-9_-]{0,62}"), re.compile(r"[a-z0-9_-]{0,63}")
ALIAS = re.compile(r"[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]")
KINDS = {"custom": ("customJobs", v1.CustomJob), "tuning": ("hyperparameterTuningJobs", v1.HyperparameterTuningJob)}


def default_player(job) -> str:
    return "SUCCEEDED"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _id() -> str:
    return str(10**18 + uuid.uuid4().int % (9 * 10**18))  # 19 digits, as Vertex AI's ids


def _any(message) -> any_pb2.Any:
    (packed := any_pb2.Any()).Pack(type(message).pb(message) if hasattr(type(message), "pb") else message)
    return packed


_Abort = grpc_peer.Abort


def _need(ok, what: str, code=Code.INVALID_ARGUMENT) -> None:
    if not ok:
        raise _Abort(code, what)


def _check_labels(labels) -> None:
    _need(len(labels) <= 64, f"at most 64 labels, not {len(labels)}")
    for key, value in labels.items():
        _need(LABEL_KEY.fullmatch(key) and LABEL_VALUE.fullmatch(value), f"Invalid label {key!r}: {value!r}")


def _check_job(kind: str, job) -> None:
    spec = job.job_spec if kind == "custom" else job.trial_job_spec
    _need(job.display_name and spec.worker_pool_specs, "display_name and worker_pool_specs are required")
    _need(spec.worker_pool_specs[0].replica_count == 1, "worker_pool_specs[0].replica_count must be 1")
    for i, pool in enumerate(spec.worker_pool_specs):
        _need(not pool.replica_count or (pool.machine_spec.machine_type and (
            pool.container_spec.image_uri or pool.python_package_spec.executor_image_uri)),
            f"worker_pool_specs[{i}] needs a machine_spec.machine_type and a container or python package")
    prefix = spec.base_output_directory.output_uri_prefix
    _need(not prefix or prefix.startswith("gs://"), f"base_output_directory {prefix!r} is not a gs:// URI")
    _check_labels(job.labels)
    if kind == "tuning":
        _need(job.study_spec.metrics and job.study_spec.parameters, "study_spec needs metrics and parameters")
        _need(job.max_trial_count > 0 and job.parallel_trial_count > 0, "max_trial_count and parallel_trial_count")
        for p in job.study_spec.parameters:
            _need(which := type(p).pb(p).WhichOneof("parameter_value_spec"), f"{p.parameter_id!r} has no value spec")
            if which in ("double_value_spec", "integer_value_spec"):
                low, high = getattr(p, which).min_value, getattr(p, which).max_value
                _need(low <= high and (low > 0 or p.scale_type.name != "UNIT_LOG_SCALE"),
                      f"parameter {p.parameter_id!r}: [{low}, {high}] on {p.scale_type.name}")


class _Job:
    """A custom or tuning job: its message, the reads left that see it in progress, its end (state, error, trials)."""
    def __init__(self, kind: str, key: tuple, msg, reads: int):
        self.kind, self.key, self.msg, self.reads, self.outcome = kind, key, msg, reads, None
        self.played = threading.Event()  # set when the player has returned

    state = lambda self: self.msg.state.name  # noqa: E731


class VertexPeer(grpc_peer.Peer):
    def __init__(self, player=default_player, pending_reads: int = 1):
        super().__init__(METHODS, "Vertex AI", player, pending_reads)
        self.jobs: dict[tuple, _Job] = {}  # (kind, project number, location, id) -> _Job
        self.models: dict[tuple, list] = {}  # (project number, location, model id) -> its versions (Model), in order
        self.ops: dict[str, types.SimpleNamespace] = {}  # name -> (msg, reads left, finish() -> the response)

    @staticmethod
    def number(project: str) -> str:
        """The project number the peer gives a project id (a number is itself)."""
        return project if project.isdigit() else str(10**11 + zlib.crc32(project.encode()))

    def job(self, display_name: str, kind: str = "custom"):
        """The peer's current copy of the last custom (or `kind="tuning"`) job of that display name, or None."""
        with self._lock:
            found = [j.msg for j in self.jobs.values() if j.kind == kind and j.msg.display_name == display_name]
            return copy.deepcopy(found[-1]) if found else None

    def versions(self, display_name: str) -> list:
        """The versions (Model messages) of the model of that display name, oldest first."""
        with self._lock:
            return next((copy.deepcopy(vs) for vs in self.models.values() if vs[0].display_name == display_name), [])

    def _parse(self, name: str, collection: str | None = None) -> tuple:
        """(number, location) of a parent, or (number, location, id, version or alias) of a resource of `collection`."""
        found = NAME.fullmatch(name or "")
        _need(found and found[3] == collection and (not found[5] or collection == "models"), f"Invalid name {name!r}")
        return (self.number(found[1]), found[2]) + ((found[4], found[5]) if collection else ())

    def _create_job(self, kind: str, parent: str, job):
        number, location = self._parse(parent)
        _check_job(kind, job)
        key, msg = (kind, number, location, _id()), copy.deepcopy(job)
        msg.name, msg.state = f"projects/{number}/locations/{location}/{KINDS[kind][0]}/{key[3]}", "JOB_STATE_PENDING"
        msg.create_time = msg.update_time = _now()
        self.jobs[key] = res = _Job(kind, key, msg, self.pending_reads)
        threading.Thread(target=self._play, args=(res, self.player, copy.deepcopy(msg)), daemon=True).start()
        return msg

    def _job(self, kind: str, name: str) -> _Job:
        key = (kind, *self._parse(name, KINDS[kind][0])[:3])
        _need(key in self.jobs, f"The {KINDS[kind][1].__name__} {name} does not exist.", NOT_FOUND)
        return self.jobs[key]

    def _read(self, res: _Job) -> None:
        """A read of a job: in progress while reads are left, else at its end if the player has given it."""
        if res.reads > 0:
            res.reads -= 1
            if res.state() == "JOB_STATE_PENDING":
                self._set(res, "JOB_STATE_RUNNING")
            return
        if res.outcome is None:  # a quick player's end is waited for a moment (1 s), so that sequences repeat
            self._lock.release()
            res.played.wait(1)
            self._lock.acquire()
        if res.outcome is not None and res.state() not in ENDED:
            self._set(res, *res.outcome[:2])
            if res.kind == "tuning":
                res.msg.trials = res.outcome[2]

    def _set(self, res: _Job, state: str, message: str = "") -> None:
        (msg := res.msg).state, msg.update_time = state, _now()
        if state == "JOB_STATE_RUNNING":
            msg.start_time = _now()
        if state in ENDED:
            msg.end_time = _now()
            if state != "JOB_STATE_SUCCEEDED":
                msg.error = {"code": 1 if state == "JOB_STATE_CANCELLED" else 3, "message": message or state}

    def _play(self, res: _Job, player, subject) -> None:
        try:
            outcome = player(subject)
        except Exception as e:  # the test's player broke: the job fails, and the test can see why
            self.errors.append(f"the player raised on {res.msg.name}: {e!r}")
            outcome = ("FAILED", f"the player raised {e!r}")
        state, message, trials = (((outcome,) if isinstance(outcome, str) else tuple(outcome)) + ("", None))[:3]
        if (end := str(state).upper().removeprefix("JOB_STATE_")) not in ENDS:
            self.errors.append(f"the player ended {res.msg.name} in {state!r}: choose one of {ENDS}")
            end, message = "FAILED", f"the player gave the state {state!r}"
        trials = [v1.Trial(t) for t in trials or ()]
        for i, trial in enumerate(trials):
            trial.id, trial.state = trial.id or str(i + 1), trial.state or "SUCCEEDED"
        with self._lock:
            if res.outcome is None:  # a cancellation came first
                res.outcome = ("JOB_STATE_" + end, message or "", trials)
            if res.reads == 0:
                self._read(res)
        res.played.set()

    def _get_job(self, kind: str, req):
        self._read(res := self._job(kind, req.name))
        return res.msg

    def _list_jobs(self, kind: str, req):
        here = (kind, *self._parse(req.parent))
        found = [r.msg for k, r in self.jobs.items() if k[:3] == here and _matches(
            req.filter, {"display_name": r.msg.display_name, "state": r.state()}, r.msg.labels)]
        return v1.ListCustomJobsResponse(custom_jobs=found) if kind == "custom" else \
            v1.ListHyperparameterTuningJobsResponse(hyperparameter_tuning_jobs=found)

    def _cancel_job(self, kind: str, req):
        res = self._job(kind, req.name)
        _need(res.state() not in ENDED, f"{res.msg.name} is in state {res.state()} and cannot be cancelled", PRECONDITION)
        self._set(res, "JOB_STATE_CANCELLING")  # the next read sees it CANCELLED
        res.reads, res.outcome = 0, ("JOB_STATE_CANCELLED", f"{KINDS[kind][1].__name__} was cancelled.", None)
        return empty_pb2.Empty()

    def _delete_job(self, kind: str, req):
        res = self._job(kind, req.name)
        _need(res.state() in ENDED, f"{res.msg.name} is in state {res.state()}: only ended jobs are deleted", PRECONDITION)
        return self._operation(f"{res.msg.name}/operations/{_id()}", v1.DeleteOperationMetadata(
            generic_metadata={"create_time": _now()}), lambda: (self.jobs.pop(res.key, None), empty_pb2.Empty())[1])

    P = functools.partialmethod
    _create_custom_job = lambda self, req: self._create_job("custom", req.parent, req.custom_job)  # noqa: E731
    _create_hyperparameter_tuning_job = lambda self, req: self._create_job(  # noqa: E731
        "tuning", req.parent, req.hyperparameter_tuning_job)
    _get_custom_job, _get_hyperparameter_tuning_job = P(_get_job, "custom"), P(_get_job, "tuning")
    _list_custom_jobs, _list_hyperparameter_tuning_jobs = P(_list_jobs, "custom"), P(_list_jobs, "tuning")
    _cancel_custom_job, _cancel_hyperparameter_tuning_job = P(_cancel_job, "custom"), P(_cancel_job, "tuning")
    _delete_custom_job, _delete_hyperparameter_tuning_job = P(_delete_job, "custom"), P(_delete_job, "tuning")
    del P

    def _upload_model(self, req):
        number, location = self._parse(req.parent)
        model = copy.deepcopy(req.model)
        _need(model.display_name and model.container_spec.image_uri, "display_name and container_spec.image_uri")
        _need(not model.artifact_uri or model.artifact_uri.startswith("gs://"), f"artifact_uri {model.artifact_uri!r}")
        _check_labels(model.labels)
        _need(all(map(ALIAS.fullmatch, model.version_aliases)), f"Invalid version aliases {list(model.version_aliases)}")
        if req.parent_model:
            key = self._parse(req.parent_model, "models")[:3]
            _need(key in self.models, f"The parent model {req.parent_model} does not exist.", NOT_FOUND)
            _need(key[:2] == (number, location), f"parent_model {req.parent_model} is not in {req.parent}")
        else:
            key = (number, location, req.model_id or _id())
            _need(key not in self.models, f"Model {key[2]} already exists.", Code.ALREADY_EXISTS)
        name = f"projects/{key[0]}/locations/{key[1]}/models/{key[2]}"

        def finish():
            versions = self.models.setdefault(key, [])
            aliases = ([] if versions else ["default"]) + list(model.version_aliases)
            for other in versions:
                other.version_aliases = [a for a in other.version_aliases if a not in aliases]
            model.name, model.version_id, model.version_aliases = name, str(len(versions) + 1), aliases
            model.create_time = versions[0].create_time if versions else _now()
            model.version_create_time = model.version_update_time = model.update_time = _now()
            versions.append(model)
            return v1.UploadModelResponse(model=name, model_version_id=model.version_id)

        return self._operation(f"{name}/operations/{_id()}", v1.UploadModelOperationMetadata(
            generic_metadata={"create_time": _now(), "update_time": _now()}), finish)

    def _versions(self, name: str) -> tuple[list, object, str | None]:
        """A model's versions, the version `name` means (@version, @alias, or the default) or None, and the @part."""
        number, location, model_id, ref = self._parse(name, "models")
        versions = self.models.get((number, location, model_id))
        _need(versions is not None, f"The Model {name} does not exist.", NOT_FOUND)
        return versions, next((v for v in versions if (ref or "default") in (v.version_id, *v.version_aliases)), None), ref

    def _get_model(self, req):
        _need((version := self._versions(req.name)[1]) is not None, f"The Model {req.name} does not exist.", NOT_FOUND)
        return version

    def _list_models(self, req):
        here = self._parse(req.parent)
        defaults = [next(v for v in vs if "default" in v.version_aliases) for k, vs in self.models.items() if k[:2] == here]
        return v1.ListModelsResponse(models=[m for m in defaults if _matches(
            req.filter, {"display_name": m.display_name, "model": m.name.rsplit("/", 1)[-1]}, m.labels)])

    def _list_model_versions(self, req):
        versions, _, ref = self._versions(req.name)
        _need(not ref, f"ListModelVersions names a model, not a version: {req.name}")
        return v1.ListModelVersionsResponse(models=[v for v in versions if _matches(
            req.filter, {"display_name": v.display_name, "version_id": v.version_id}, v.labels)])

    def _operation(self, name: str, metadata, finish) -> operations_pb2.Operation:
        msg = operations_pb2.Operation(name=name, metadata=_any(metadata))
        self.ops[name] = types.SimpleNamespace(msg=msg, reads=self.pending_reads, finish=finish)
        return msg

    def _get_operation(self, req):
        _need((op := self.ops.get(req.name)) is not None, f"Operation {req.name} does not exist.", NOT_FOUND)
        if not op.msg.done and op.reads > 0:
            op.reads -= 1
        elif not op.msg.done:
            op.msg.response.CopyFrom(_any(op.finish()))
            op.msg.done = True
        return op.msg

    _wait_operation = _get_operation  # one read, answered at once (unverified: the real one waits up to its timeout)

    # a cancellation is best effort, as the real one says: the peer's operations go on
    _cancel_operation = lambda self, req: (self._get_operation(req), empty_pb2.Empty())[1]  # noqa: E731
    _delete_operation = lambda self, req: (self._get_operation(req), self.ops.pop(req.name), empty_pb2.Empty())[2]  # noqa


OP, EMPTY, LRO = operations_pb2.Operation, empty_pb2.Empty, operations_pb2
SERVICES = {  # service -> method -> (request, response); each is answered by VertexPeer._<method in snake case>
    "google.cloud.aiplatform.v1.JobService": {
        f"{verb}{kind}": (getattr(v1, f"{verb}{kind}Request"), answer)
        for kind, resource in (("CustomJob", v1.CustomJob), ("HyperparameterTuningJob", v1.HyperparameterTuningJob))
        for verb, answer in (("Create", resource), ("Get", resource), ("Cancel", EMPTY), ("Delete", OP))} | {
        "ListCustomJobs": (v1.ListCustomJobsRequest, v1.ListCustomJobsResponse),
        "ListHyperparameterTuningJobs": (v1.ListHyperparameterTuningJobsRequest, v1.ListHyperparameterTuningJobsResponse)},
    "google.cloud.aiplatform.v1.ModelService": {
        "UploadModel": (v1.UploadModelRequest, OP), "GetModel": (v1.GetModelRequest, v1.Model),
        "ListModels": (v1.ListModelsRequest, v1.ListModelsResponse),
        "ListModelVersions": (v1.ListModelVersionsRequest, v1.ListModelVersionsResponse)},
    "google.longrunning.Operations": {
        "GetOperation": (LRO.GetOperationRequest, OP), "WaitOperation": (LRO.WaitOperationRequest, OP),
        "CancelOperation": (LRO.CancelOperationRequest, EMPTY), "DeleteOperation": (LRO.DeleteOperationRequest, EMPTY)},
}
METHODS = grpc_peer.method_table(SERVICES)



def _matches(expr: str, fields: dict[str, str], labels) -> bool:
    """Vertex AI's list filter, in part: `field = "value"`, `!=`, `field:"prefix*"`, `labels.K = v`, `labels.K:*`, AND."""
    for term in [t for t in re.split(r"\s+AND\s+", expr.strip()) if t]:
        found = re.fullmatch(r'\s*([\w.-]+)\s*(!=|=|:)\s*("?)([^"]*)\3\s*', term)
        if not found or re.search(r"\s(OR|NOT)\s", f" {term} "):
            raise ValueError(f"the Vertex AI peer cannot read the filter term {term!r}")
        field, op, _, value = found.groups()
        if field.startswith("labels."):
            have = labels.get(field[len("labels."):])
        elif (field := re.sub(r"([A-Z])", lambda m: "_" + m[1].lower(), field)) in fields:
            have = fields[field]
        else:
            raise ValueError(f"the Vertex AI peer does not filter on {field!r} (only on {sorted(fields)} and labels)")
        has = have is not None and (value == "*" or have == value or (value.endswith("*") and have.startswith(value[:-1])))
        if not (has if op == ":" else (have == value) == (op == "=")):
            return False
    return True
