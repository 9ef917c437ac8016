"""An Azure Resource Manager peer for tests: an HTTPS server on 127.0.0.1 answering the routes that azure-ai-ml
(1.35) calls for Azure ML jobs and models of one workspace, keeping every request.

HTTPS with a certificate made for 127.0.0.1 (`peer.ca_bundle`: put it in REQUESTS_CA_BUNDLE), because the SDK's model
operations refuse to send a bearer token over plain http. An MLClient reaches it with cloud metadata pointing every
endpoint at `peer.url` (contrail_plugins.azureml.hook does that for a connection extra `resource_manager_url`).

As ARM does: a PUT keeps the body the SDK sent and the reply is the stored resource with its read-only fields (id,
name, type, systemData; a job's status and services); a GET answers what is stored, 404 when nothing is; a job
refers to an environment version and a compute of the workspace that must exist; a second PUT of a job name is
refused (job names are unique in a workspace), and so is one of a model version (versions are immutable); ARM routes
want a bearer token. Time moves with reads: a job is Starting when created and Running from its first GET until the
test ends it (`finish`, seen after `after_reads` more reads); a cancel makes it CancelRequested and the next read
Canceled. A failed job's error and log are served as run history serves them (the workspace's discovery URL,
`history/v1.0/.../runs/{name}/details`, its log file by a SAS URL). A route the peer does not know is answered 404 and
kept in `peer.unknown`: a test fixture asserts that list empty. Unverified: the error codes and wording, the 202 and
Location of a cancel, run history's log file names and SAS URLs.
Test code, not product code.
"""

from __future__ import annotations

import copy
import datetime
import ipaddress
import json
import re
import ssl
import tempfile
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple

PROVIDER = "Microsoft.MachineLearningServices"
WORKSPACE = rf"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/{PROVIDER}/workspaces/(?P<ws>[^/]+)"
ENDED = {"Completed", "Failed", "Canceled", "NotResponding"}
# (method, path under the workspace or the server, the route's name): the name is what `peer.names()` lists
ROUTES = [(method, re.compile(pattern), name) for method, pattern, name in [
    ("GET", WORKSPACE, "get_workspace"),
    ("GET", r"/discovery", "get_discovery"),
    ("PUT", WORKSPACE + r"/environments/(?P<name>[^/]+)/versions/(?P<version>[^/]+)", "put_environment_version"),
    ("GET", WORKSPACE + r"/jobs", "list_jobs"),
    ("PUT", WORKSPACE + r"/jobs/(?P<name>[^/]+)", "put_job"),
    ("GET", WORKSPACE + r"/jobs/(?P<name>[^/]+)", "get_job"),
    ("POST", WORKSPACE + r"/jobs/(?P<name>[^/]+)/cancel", "cancel_job"),
    ("GET", r"/operations/(?P<id>[^/]+)", "get_operation"),
    ("GET", r"/history/v1\.0" + WORKSPACE + r"/runs/(?P<name>[^/]+)/details", "get_run_details"),
    ("HEAD", r"/logs/(?P<name>[^/]+)/(?P<file>.+)", "get_log"),
    ("GET", r"/logs/(?P<name>[^/]+)/(?P<file>.+)", "get_log"),
    ("GET", WORKSPACE + r"/models/(?P<name>[^/]+)/versions", "list_model_versions"),
    ("PUT", WORKSPACE + r"/models/(?P<name>[^/]+)/versions/(?P<version>[^/]+)", "put_model_version"),
    ("GET", WORKSPACE + r"/models/(?P<name>[^/]+)/versions/(?P<version>[^/]+)", "get_model_version"),
    ("PUT", r"/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<group>[^/]+)/providers/Microsoft\.Storage/"
            r"storageAccounts/(?P<account>[^/]+)/managementPolicies/(?P<policy>[^/]+)", "put_management_policy"),
]]


class Call(NamedTuple):
    """One request as it arrived: the route's name (None when unknown), method, path, query, JSON body (or None),
    headers."""
    route: str | None
    method: str
    path: str
    query: dict
    body: object
    headers: dict


class Refused(Exception):
    """(HTTP status, ARM error code, message): what the request is answered."""


def _need(ok, status: int, code: str, message: str) -> None:
    if not ok:
        raise Refused(status, code, message)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


class _Job:
    """A job: its stored resource, its end once the test gave it (status, error, log) and the reads before it shows."""

    def __init__(self, resource: dict):
        self.resource, self.end, self.reads_left = resource, None, 0

    @property
    def status(self) -> str:
        return self.resource["properties"]["status"]


class AzureMLPeer:
    """The workspace `subscription`/`resource_group`/`workspace` (in `location`) with the computes `computes`."""

    def __init__(self, subscription: str = "sub-1", resource_group: str = "rg-ml", workspace: str = "ws-ml",
                 location: str = "westeurope", computes: tuple[str, ...] = ("cpu-cluster",)):
        self.scope = (subscription, resource_group, workspace)
        self.location, self.computes = location, set(computes)
        self.requests: list[Call] = []
        self.unknown: list[str] = []  # "METHOD path" of the requests no route matched
        self.errors: list[str] = []  # the peer's own failures
        self.environments: dict[tuple, dict] = {}  # (name, version) -> environment version resource
        self.jobs: dict[str, _Job] = {}
        self.ends: dict[str, tuple] = {}  # name -> (end, reads before it) of a job the test ended before its PUT
        self.model_versions: dict[tuple, dict] = {}  # (name, version) -> model version resource
        self.management_policies: dict[tuple, dict] = {}  # (resource group, storage account) -> policy resource
        self.operations: set[str] = set()
        self._lock = threading.RLock()
        self._folder = tempfile.TemporaryDirectory(prefix="azureml-peer-")
        self.ca_bundle = _certificate(Path(self._folder.name))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_bundle, Path(self._folder.name) / "key.pem")
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_port}/"
        self.workspace_id = "/subscriptions/{}/resourceGroups/{}/providers/{}/workspaces/{}".format(
            subscription, resource_group, PROVIDER, workspace)

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True, name="azureml-peer").start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._folder.cleanup()

    # ---- what a test does and reads ----

    def finish(self, name: str, status: str, error: str | None = None, log: str = "", after_reads: int = 0) -> None:
        """End the job `name` in `status` (Completed, Failed, Canceled, NotResponding) with the run's `error` message
        and `log` (its std_log.txt): the read after the next `after_reads` reads of the job sees it. A job not yet
        submitted gets that end when it is."""
        assert status in ENDED, f"end a job in one of {sorted(ENDED)}, not {status!r}"
        with self._lock:
            self.ends[name] = ((status, error, log), after_reads)
            if name in self.jobs:
                self.jobs[name].end, self.jobs[name].reads_left = self.ends.pop(name)

    def job(self, name: str) -> dict:
        """The stored job resource (as a GET would answer it now, without counting as a read)."""
        with self._lock:
            return copy.deepcopy(self.jobs[name].resource)

    def names(self) -> list[str]:
        """The routes' names of the requests received, in order."""
        return [call.route for call in self.requests]

    def calls(self, route: str) -> list[Call]:
        return [call for call in self.requests if call.route == route]

    def body(self, route: str) -> dict:
        """The JSON body of the one request of that route."""
        found = self.calls(route)
        assert len(found) == 1, f"expected one {route}, the peer received {self.names()}"
        return found[0].body

    # ---- answering ----

    def answer(self, call: Call) -> tuple[int, dict, object]:
        """(status, headers, JSON reply or bytes) of a request."""
        found = _match(call.method, call.path)
        if found is None:
            self.unknown.append(f"{call.method} {call.path}")
            raise Refused(404, "NoRegisteredProviderFound", f"the Azure ML peer has no route {call.method} {call.path}")
        name, args = found
        _need(name in ("get_log", "get_discovery") or call.headers.get("Authorization", "").startswith("Bearer "),
              401, "AuthenticationFailed", "Authentication failed: the request has no bearer token")
        if "sub" in args:
            scope = (args.pop("sub"), args.pop("rg"), args.pop("ws"))
            _need(scope == self.scope, 404, "ResourceNotFound", f"The workspace {'/'.join(scope)} was not found.")
        return getattr(self, "_" + name)(call, **args)

    def _resource(self, kind: str, path: str, properties: dict) -> dict:
        name = path.rsplit("/", 1)[-1]
        return {"id": f"{self.workspace_id}/{path}", "name": name, "type": f"{PROVIDER}/workspaces/{kind}",
                "properties": properties, "systemData": {"createdAt": _now(), "createdBy": "contrail-test",
                                                          "createdByType": "Application"}}

    def _get_workspace(self, call):
        return 200, {}, {"id": self.workspace_id, "name": self.scope[2], "type": f"{PROVIDER}/workspaces",
                         "location": self.location, "properties": {
                             "discoveryUrl": f"{self.url}discovery", "workspaceId": str(uuid.uuid5(
                                 uuid.NAMESPACE_URL, self.workspace_id)), "friendlyName": self.scope[2]}}

    def _get_discovery(self, call):
        base = self.url.rstrip("/")  # the data-plane services of the workspace's region, all on the peer
        return 200, {}, {key: base for key in ("api", "catalog", "experimentation", "history", "modelmanagement",
                                               "pipelines")} | {"studio": "https://ml.azure.com"}

    def _put_environment_version(self, call, name: str, version: str):
        properties = (call.body or {}).get("properties") or {}
        _need(properties.get("image") or properties.get("build"), 400, "UserError",
              f"environment {name}:{version} needs an image or a build context")
        created = (name, version) not in self.environments
        self.environments[(name, version)] = self._resource(
            "environments", f"environments/{name}/versions/{version}", properties)
        return 201 if created else 200, {}, self.environments[(name, version)]

    def _check_job(self, name: str, properties: dict) -> None:
        kind = properties.get("jobType")
        _need(kind in ("Command", "Sweep"), 400, "UserError", f"job {name}: unknown jobType {kind!r}")
        compute = properties.get("computeId") or ""
        _need(compute.startswith(f"{self.workspace_id}/computes/") and compute.rsplit("/", 1)[-1] in self.computes,
              400, "UserError", f"job {name}: compute {compute!r} does not exist in workspace {self.scope[2]}")
        task = properties.get("trial") if kind == "Sweep" else properties
        _need(task and task.get("command"), 400, "UserError", f"job {name}: no command")
        environment = (task.get("environmentId") or "").removeprefix(f"{self.workspace_id}/environments/")
        _need(tuple(environment.split("/versions/")) in self.environments, 400, "UserError",
              f"job {name}: environment {task.get('environmentId')!r} does not exist")
        if kind == "Sweep":
            _need(properties.get("searchSpace") and properties.get("objective") and properties.get("samplingAlgorithm"),
                  400, "UserError", f"sweep job {name} needs a searchSpace, an objective and a samplingAlgorithm")

    def _put_job(self, call, name: str):
        _need(name not in self.jobs, 400, "UserError", f"A job with this ID already exists: {name}")
        properties = copy.deepcopy((call.body or {}).get("properties") or {})
        self._check_job(name, properties)
        studio = f"https://ml.azure.com/runs/{name}?wsid=/subscriptions/{self.scope[0]}/resourcegroups/" \
                 f"{self.scope[1]}/workspaces/{self.scope[2]}"
        properties |= {"status": "Starting", "services": {
            "Studio": {"jobServiceType": "Studio", "endpoint": studio},
            "Tracking": {"jobServiceType": "Tracking", "endpoint": f"azureml://{self.location}.api.azureml.ms/mlflow/"
                                                                   f"v1.0{self.workspace_id}?"}}}
        self.jobs[name] = job = _Job(self._resource("jobs", f"jobs/{name}", properties))
        job.end, job.reads_left = self.ends.pop(name, (None, 0))
        return 201, {}, job.resource

    def _get_job(self, call, name: str):
        _need(name in self.jobs, 404, "UserError", f"Could not find job {name}")
        job = self.jobs[name]
        if job.status == "CancelRequested":
            job.end = ("Canceled", "The job was canceled.", "")
            self._end(job)
        elif job.end and job.status not in ENDED and not job.reads_left:
            self._end(job)
        else:
            job.reads_left = max(job.reads_left - 1, 0)
            if job.status == "Starting":
                job.resource["properties"]["status"] = "Running"
        return 200, {}, job.resource

    def _list_jobs(self, call):
        """The jobs not archived (the peer archives none), those with the tag key `tag` when asked, in one page."""
        _need(call.query.get("listViewType", "ActiveOnly") == "ActiveOnly", 400, "UserError",
              f"the peer lists active jobs only, not {call.query['listViewType']!r}")
        tag = call.query.get("tag")
        return 200, {}, {"value": [job.resource for job in self.jobs.values()
                                   if tag is None or tag in (job.resource["properties"].get("tags") or {})]}

    @staticmethod
    def _end(job: _Job) -> None:
        job.resource["properties"]["status"] = job.end[0]

    def _cancel_job(self, call, name: str):
        _need(name in self.jobs, 404, "UserError", f"Could not find job {name}")
        job = self.jobs[name]
        _need(job.status not in ENDED, 400, "UserError", f"job {name} is {job.status} and cannot be canceled")
        job.resource["properties"]["status"] = "CancelRequested"
        self.operations.add(operation := str(uuid.uuid4()))
        return 202, {"Location": f"{self.url}operations/{operation}", "Retry-After": "0"}, {}

    def _get_operation(self, call, id: str):
        _need(id in self.operations, 404, "ResourceNotFound", f"operation {id} not found")
        return 200, {}, {}

    def _get_run_details(self, call, name: str):
        _need(name in self.jobs, 404, "UserError", f"Run {name} was not found")
        job = self.jobs[name]
        details = {"runId": name, "status": job.status, "target": job.resource["properties"]["computeId"],
                   "logFiles": {"user_logs/std_log.txt": f"{self.url}logs/{name}/user_logs/std_log.txt?sv=peer"}}
        if job.status in ENDED and job.end and job.end[1]:
            details["error"] = {"error": {"code": "UserError", "message": job.end[1]}}
        return 200, {}, details

    def _get_log(self, call, name: str, file: str):
        """A log blob by its SAS URL, whole or from the `Range: bytes=N-` asked (Blob storage has no suffix range)."""
        _need(name in self.jobs and file == "user_logs/std_log.txt" and call.query.get("sv") == "peer", 404,
              "BlobNotFound", f"no log {file} of {name}")
        log = (self.jobs[name].end or ("", "", ""))[2].encode()
        found = re.fullmatch(r"bytes=(\d+)-", call.headers.get("Range", ""))
        if not found:
            return 200, {"Content-Type": "text/plain"}, log
        start = int(found[1])
        _need(start < len(log), 416, "InvalidRange", f"the range {call.headers['Range']} is past the log's end")
        served = {"Content-Type": "text/plain", "Content-Range": f"bytes {start}-{len(log) - 1}/{len(log)}"}
        return 206, served, log[start:]

    def _put_model_version(self, call, name: str, version: str):
        properties = {"flavors": {}} | copy.deepcopy((call.body or {}).get("properties") or {})
        uri = properties.get("modelUri") or ""
        _need(re.match(r"(azureml://|https://[^/]+\.blob\.core\.windows\.net/)", uri), 400, "UserError",
              f"model {name}:{version}: modelUri {uri!r} is neither an azureml:// nor a blob URI")
        _need((name, version) not in self.model_versions, 409, "UserError",
              f"model {name} already has a version {version}")  # versions are immutable
        self.model_versions[(name, version)] = self._resource(
            "models", f"models/{name}/versions/{version}", properties)
        return 201, {}, self.model_versions[(name, version)]

    def _get_model_version(self, call, name: str, version: str):
        _need((name, version) in self.model_versions, 404, "UserError", f"model {name}:{version} not found")
        return 200, {}, self.model_versions[(name, version)]

    def _list_model_versions(self, call, name: str):
        _need(call.query.get("$orderBy", "createdtime desc") == "createdtime desc", 400, "UserError",
              f"the peer lists versions by createdtime desc only, not {call.query['$orderBy']!r}")
        newest = [v for (model, _), v in reversed(self.model_versions.items()) if model == name]
        return 200, {}, {"value": newest[:int(call.query.get("$top", len(newest)))]}


    def _put_management_policy(self, call, subscription: str, group: str, account: str, policy: str):
        """A storage account's lifecycle management policy (the account is taken to exist in any resource group of
        the subscription); only `default` is a valid policy name, as in ARM."""
        _need(subscription == self.scope[0], 404, "SubscriptionNotFound", f"The subscription '{subscription}' could not be found.")
        _need(policy == "default", 400, "InvalidManagementPolicyName", "the management policy name must be 'default'")
        rules = (((call.body or {}).get("properties") or {}).get("policy") or {}).get("rules")
        _need(rules, 400, "InvalidManagementPolicyRule", "a management policy needs at least one rule")
        resource = {"id": call.path, "name": policy, "type": "Microsoft.Storage/storageAccounts/managementPolicies",
                    "properties": {"policy": call.body["properties"]["policy"], "lastModifiedTime": _now()}}
        self.management_policies[(group, account)] = resource
        return 200, {}, resource


def _match(method: str, path: str) -> tuple[str, dict] | None:
    """(the route's name, the path's parts) of a request, or None."""
    for verb, pattern, name in ROUTES:
        if verb == method and (found := pattern.fullmatch(path)):
            return name, found.groupdict()
    return None


def _handler(peer: AzureMLPeer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # the test reads peer.requests instead
            pass

        def _serve(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            query = dict(urllib.parse.parse_qsl(url.query))
            with peer._lock:
                route = (_match(self.command, url.path) or (None,))[0]
                peer.requests.append(call := Call(route, self.command, url.path, query, body, dict(self.headers)))
                try:
                    status, headers, reply = peer.answer(call)
                    reply = copy.deepcopy(reply)  # the stored resource stays the peer's
                except Refused as e:
                    (status, code, message), headers = e.args, {}
                    reply = {"error": {"code": code, "message": message, "details": []}}
                except Exception as e:  # noqa: BLE001 - the peer's own bug: answered 500 and kept for the test
                    peer.errors.append(f"{self.command} {url.path} raised {e!r}")
                    status, headers, reply = 500, {}, {"error": {"code": "InternalServerError", "message": repr(e)}}
            data = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
            self.send_response(status)
            headers = {"Content-Type": "application/json", **headers, "Content-Length": str(len(data)),
                       "x-ms-request-id": str(uuid.uuid4())}
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _serve

    return Handler


def _certificate(folder: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 and localhost (cert.pem, key.pem in `folder`); returns cert.pem."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "azureml-peer")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    (path := folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path

