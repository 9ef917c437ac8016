"""The production-shape deployment: docker-compose.yaml, its Dockerfile, .dockerignore and .env.example.

No container runs here: the file is parsed (PyYAML, and `docker compose config` when the compose
plugin is installed) and its properties are checked: the services, the shared Airflow anchor and
CeleryExecutor, the dependency graph, the mounts, MLflow and MinIO settings, and that no secret is
written in the file. Fast (well under a second) and airflow is never imported.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

AIRFLOW_COMPONENTS = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                      "airflow-triggerer", "airflow-worker"}
AIRFLOW_SERVICES = AIRFLOW_COMPONENTS | {"airflow-init"}
BACKING_SERVICES = {"postgres", "redis", "mlflow", "minio"}
MOUNTED = ("dags", "plugins", "include", "spark_jobs")
CONTAINER_ROOT = "/opt/contrail"

# Env names that hold a secret (a *_FILE / *_PATH names where a secret lives, not the secret).
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|JWT|ACCESS_KEY|TOKEN|_AUTH$|ROOT_USER")
# ${VAR}, ${VAR-x}, ${VAR:-x}, ${VAR?msg}, ${VAR:?msg}; `$$` is compose's escape for a literal $.
REFERENCE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
REQUIRED_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]+\}$")
URL_CREDENTIALS = re.compile(r"[a-z0-9+]+://([^:/@\s\"']*):(\$\{[^}]*\}|[^@\s\"']*)@")


def _text() -> str:
    return COMPOSE.read_text()


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep and key.isidentifier(), f".env.example: expected KEY=VALUE, got {line!r}"
            values[key] = value
    return values


def interpolate(value, env: dict[str, str]):
    """Compose's variable substitution over a parsed value (strings, lists, mappings)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match):
        name, op, arg = match.groups()
        current = env.get(name)
        if op in (":-", "-"):
            return current if current or (op == "-" and current is not None) else arg
        if op in (":?", "?") and not current and not (op == "?" and current is not None):
            raise KeyError(f"required variable {name} is missing: {arg}")
        return current or ""

    return REFERENCE.sub(substitute, value).replace("$$", "$")


@pytest.fixture(scope="module")
def resolved(compose) -> dict:
    """The services with the .env.example values substituted, as `docker compose config` would."""
    return interpolate(compose, env_example())["services"]


def env_of(service: dict) -> dict[str, str]:
    """A service's environment as its container sees it: its env_file(s), then `environment` on top."""
    from contrail import localenv

    env = service.get("environment") or {}
    assert isinstance(env, dict), "write environment as a mapping, so that the anchors can merge it"
    files = {}
    for name in service.get("env_file") or []:
        files.update(localenv.load(ROOT / name, environ={}))
    return {**files, **{k: "" if v is None else str(v) for k, v in env.items()}}


# --- the file and its services -----------------------------------------------------------------


def test_the_file_parses_and_declares_the_production_services(compose, services):
    assert isinstance(services, dict)
    missing = (AIRFLOW_SERVICES | BACKING_SERVICES) - set(services)
    assert not missing, f"docker-compose.yaml lacks services {sorted(missing)}"
    for name in AIRFLOW_COMPONENTS:
        assert services[name].get("command"), f"{name} has no command"
    assert services["airflow-init"]["command"][-2:] == ["db", "migrate"]
    commands = {name: " ".join(services[name]["command"]) for name in AIRFLOW_COMPONENTS}
    for name, word in [("airflow-apiserver", "api-server"), ("airflow-scheduler", "scheduler"),
                       ("airflow-dag-processor", "dag-processor"), ("airflow-triggerer", "triggerer"),
                       ("airflow-worker", "celery worker")]:
        assert word in commands[name], f"{name} should run `airflow {word}`, runs {commands[name]!r}"
    named = {source for svc in services.values() for source in
             (v.split(":")[0] for v in svc.get("volumes", [])) if not source.startswith((".", "/"))}
    assert named <= set(compose.get("volumes") or {}), "every named volume is declared under volumes:"


def test_every_airflow_service_merges_the_one_common_anchor():
    root = yaml.compose(_text())
    top = {key.value: value for key, value in root.value}
    common = top["x-airflow-common"]
    common_env = next(v for k, v in common.value if k.value == "environment")
    airflow = [(k.value, v) for k, v in top["services"].value if k.value.startswith("airflow-")]
    assert {name for name, _ in airflow} >= AIRFLOW_SERVICES
    for name, node in airflow:
        merged = [v for k, v in node.value if k.tag == "tag:yaml.org,2002:merge"]
        assert merged and merged[0] is common, f"{name} must start with `<<: *airflow-common`"
        own_env = [v for k, v in node.value if k.value == "environment"]
        if own_env:  # a service adding variables must merge the common ones, not copy them
            env_merge = [v for k, v in own_env[0].value if k.tag == "tag:yaml.org,2002:merge"]
            assert env_merge and env_merge[0] is common_env, f"{name}: merge `<<: *airflow-common-env`"


def test_airflow_services_share_image_environment_and_celery_executor(compose, services):
    common = compose["x-airflow-common"]
    common_env = env_of(common)
    assert common_env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert common_env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert common_env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__BROKER_URL",
                "AIRFLOW__CELERY__RESULT_BACKEND", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY"):
        assert common_env.get(key), f"x-airflow-common lacks {key}"
    for name in AIRFLOW_SERVICES:
        svc = services[name]
        assert svc["image"] == common["image"] and svc["build"] == common["build"], name
        env = env_of(svc)
        changed = {k for k, v in common_env.items() if env.get(k) != v}
        assert not changed, f"{name} overrides or drops shared variables {sorted(changed)}"
    # MLflow runs from the same image (mlflow, psycopg2 and boto3 come from requirements.txt).
    assert services["mlflow"]["image"] == common["image"]


def test_connection_urls_point_at_the_compose_services(resolved):
    env = env_of(resolved["airflow-scheduler"])
    secrets = env_example()
    db = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert (db.scheme, db.hostname, db.port, db.path) == ("postgresql+psycopg2", "postgres", 5432, "/airflow")
    assert db.password == secrets["POSTGRES_PASSWORD"]
    assert urlsplit(env["AIRFLOW__CELERY__RESULT_BACKEND"]).scheme == "db+postgresql"
    broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
    assert (broker.scheme, broker.hostname, broker.password) == ("redis", "redis", secrets["REDIS_PASSWORD"])
    for key, value in env.items():
        for url in re.findall(r"\w[\w+.-]*://[^\s\"',]+", value):
            parts = urlsplit(url)
            if parts.scheme in ("s3", "s3a", "gs", "abfs", "abfss"):  # a bucket, not a host
                continue
            host = parts.hostname
            if host and host not in ("localhost", "127.0.0.1"):
                assert host in resolved, f"{key}: {url} names host {host!r}, which is no service"


def test_the_dags_run_on_the_local_profile_with_the_lake_on_a_volume_every_airflow_service_mounts(
        resolved, services, compose, monkeypatch):
    env = env_of(resolved["airflow-worker"])
    assert env["CONTRAIL_PROFILE"] == "local"
    lake = env["CONTRAIL_DATA_ROOT"]
    for name in AIRFLOW_COMPONENTS:  # the api-server too: it serves the run reports from the lake
        mounts = {m.split(":")[1]: m.split(":")[0] for m in services[name]["volumes"]}
        assert mounts.get(lake) == "lake" and mounts.get(env["CONTRAIL_LANDING_URL"]) == "landing", name
    assert {"lake", "landing"} <= set(compose["volumes"])
    # The project's own profile resolves to that folder (contrail.config, not airflow).
    from contrail import config

    for key in ("CONTRAIL_PROFILE", "CONTRAIL_DATA_ROOT"):
        monkeypatch.setenv(key, env[key])
    assert config.profile().data_root == f"file://{lake}"
    # MLflow's bucket is made before any Airflow component starts.
    init = " ".join(services["minio-init"]["command"])
    assert "local/mlflow" in init and "mc mb" in init


def test_mlflow_server_uses_postgres_and_proxies_artifacts_to_object_storage(resolved, services):
    mlflow = resolved["mlflow"]
    command, env = mlflow["command"], env_of(mlflow)
    assert command[:2] == ["mlflow", "server"]
    assert command[command.index("--workers") + 1] == "1"
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    store = urlsplit(env["MLFLOW_BACKEND_STORE_URI"])
    airflow_db = urlsplit(env_of(resolved["airflow-init"])["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert store.scheme.startswith("postgresql") and store.hostname == "postgres"
    assert store.path != airflow_db.path and store.username != airflow_db.username, "MLflow has its own database"
    assert "mlflow" in " ".join(services["mlflow-db-init"]["command"][-1].split()), "mlflow-db-init creates it"
    bucket = urlsplit(env["MLFLOW_ARTIFACTS_DESTINATION"])
    assert bucket.scheme == "s3" and f"local/{bucket.hostname}" in " ".join(services["minio-init"]["command"])
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    # The workers reach it by service name: its Host header must pass MLflow's allow-list.
    tracking = urlsplit(env_of(resolved["airflow-worker"])["MLFLOW_TRACKING_URI"])
    allowed = env["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    assert tracking.hostname == "mlflow" and tracking.port == int(command[command.index("--port") + 1])
    assert any(fnmatch.fnmatch(tracking.netloc, a) if "*" in a else tracking.netloc == a for a in allowed)
    # Promotions lock in MLflow's own database, as MLflow's role (contrail.registry.locks).
    lock = urlsplit(env_of(resolved["airflow-worker"])["CONTRAIL_PROMOTION_LOCK_URL"])
    assert (lock.scheme, lock.hostname, lock.path, lock.username) == ("postgresql", "postgres", store.path, store.username)


def test_dependencies_wait_for_health_and_for_the_one_shot_jobs(services):
    for name in ("postgres", "redis", "minio", "mlflow", *AIRFLOW_COMPONENTS):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name in AIRFLOW_COMPONENTS:
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
    assert services["airflow-init"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"
    graph = {}
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        assert isinstance(deps, dict), f"{name}: depends_on needs conditions"
        graph[name] = set(deps)
        for target, rule in deps.items():
            assert target in services, f"{name} depends on unknown service {target}"
            if rule["condition"] == "service_healthy":
                assert services[target].get("healthcheck"), f"{name} waits for {target}'s health, which has no check"
            if rule["condition"] == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"one-shot {target} must not restart"
    done: set[str] = set()
    while len(done) < len(graph):  # every service can start: no cycle
        ready = {n for n, deps in graph.items() if n not in done and deps <= done}
        assert ready, f"dependency cycle among {sorted(set(graph) - done)}"
        done |= ready


def test_project_folders_are_mounted_read_only_where_airflow_looks(services, compose):
    for folder in MOUNTED:
        assert (ROOT / folder).is_dir(), (
            f"{folder}/ is mounted by docker-compose.yaml but missing from the repo "
            "(git keeps no empty folder: commit a file in it, e.g. .gitkeep)")
    env = env_of(compose["x-airflow-common"])
    for name in AIRFLOW_SERVICES:
        volumes = services[name]["volumes"]
        for folder in MOUNTED:
            assert f"./{folder}:{CONTAINER_ROOT}/{folder}:ro" in volumes, f"{name} lacks ./{folder} read-only"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == f"{CONTAINER_ROOT}/dags"
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == f"{CONTAINER_ROOT}/plugins"


# --- secrets -----------------------------------------------------------------------------------


def _strings(value, path=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")
    elif isinstance(value, str):
        yield path, value


def test_no_secret_is_written_in_the_compose_file(compose):
    checked = 0
    for name, svc in {**compose["services"], "x-airflow-common": compose["x-airflow-common"]}.items():
        for key, value in env_of(svc).items():
            if SECRET_NAME.search(key) and not key.endswith(("_FILE", "_PATH")):
                assert REQUIRED_REFERENCE.match(value), f"{name}: {key} must be ${{VAR:?...}} from .env, not {value!r}"
                checked += 1
            if key.startswith("AIRFLOW_CONN_"):
                conn = json.loads(value)
                for field in ("password", "login"):
                    if field in conn:
                        assert REQUIRED_REFERENCE.match(conn[field]), f"{name}: {key} {field} is literal"
        args = svc.get("command") if isinstance(svc.get("command"), list) else []
        for flag, arg in zip(args, args[1:]):
            if re.search(r"pass|secret|token", str(flag), re.I):
                assert REQUIRED_REFERENCE.match(arg), f"{name}: {flag} takes a literal value"
    assert checked >= 10, "the secret-name pattern found too few variables: did the file change shape?"
    for path, value in _strings(compose):
        for user, password in URL_CREDENTIALS.findall(value):
            assert password.startswith("${"), f"{path}: a URL carries a literal password"
    text = _text()
    for match in REFERENCE.finditer(text):  # a secret is never given a default value
        name, op, _ = match.groups()
        if SECRET_NAME.search(name):
            assert op == ":?", f"{match.group(0)} must be required (:?), not defaulted"
    for value in env_example().values():
        assert value not in text, f"the placeholder {value!r} of .env.example is written in the compose file"


def test_env_example_lists_every_required_variable_with_a_placeholder():
    text, example = _text(), env_example()
    required = {name for name, op, _ in REFERENCE.findall(text) if op in (":?", "?")}
    assert required, "docker-compose.yaml requires no variable from .env"
    assert required == set(example), f"required {sorted(required)} != .env.example {sorted(example)}"
    for key, value in example.items():
        assert value.startswith("change-me"), f".env.example: {key} should be a change-me placeholder"
        assert re.fullmatch(r"[A-Za-z0-9_-]+", value), f"{key}: URL- and JSON-safe characters only"
    defaulted = {name for name, op, _ in REFERENCE.findall(text) if op in (":-", "-")}
    undeclared = {name for name, op, _ in REFERENCE.findall(text) if not op} - defaulted
    assert not undeclared, f"variables with neither default nor requirement: {sorted(undeclared)}"
    with pytest.raises(KeyError, match=r"required variable \w+ is missing: set \w+ in \.env"):
        interpolate(yaml.safe_load(text), {})


# --- the image ---------------------------------------------------------------------------------


def test_dockerfile_installs_the_lock_java_and_the_project():
    text = DOCKERFILE.read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", text, re.M))
    base = re.search(r"^FROM (\S+)", text, re.M).group(1)
    base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)
    assert base.startswith("python:3.11-slim"), base
    assert "openjdk-17-jre-headless" in text
    assert re.search(r"uv pip install --system .*-r requirements\.txt", text)
    assert re.search(r"^COPY requirements\.txt", text, re.M)
    pythonpath = re.search(r"PYTHONPATH=(\S+)", text).group(1).split(":")
    assert f"{CONTAINER_ROOT}/include" in pythonpath and CONTAINER_ROOT in pythonpath
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0"), "the components run as an unprivileged user"


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image():
    patterns = [p.strip() for p in DOCKERIGNORE.read_text().splitlines() if p.strip() and not p.startswith("#")]

    def ignored(name: str) -> bool:
        result = False
        for pattern in patterns:
            negate, pattern = pattern.startswith("!"), pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(name, pattern.removeprefix("**/")):
                result = not negate
        return result

    for name in (".env", ".env.local", ".venv", ".git", ".contrail", "data", "contrail.egg-info"):
        assert ignored(name), f".dockerignore lets {name} into the image"
    for name in ("requirements.txt", *MOUNTED):
        assert not ignored(name), f".dockerignore keeps {name} out of the image"


# --- docker compose itself -----------------------------------------------------------------------


def _docker_compose() -> list[str] | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=20)
    return [docker, "compose"] if probe.returncode == 0 else None


def test_docker_compose_config_accepts_the_file_and_refuses_missing_secrets(tmp_path):
    cli = _docker_compose()
    if cli is None:
        pytest.skip("the docker compose plugin is absent (`docker compose version` fails); PyYAML checks only")
    empty = tmp_path / "empty.env"
    empty.write_text("")  # never read the developer's real .env
    base_env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path)}
    argv = [*cli, "--project-directory", str(ROOT), "-f", str(COMPOSE), "--env-file", str(empty), "config", "--quiet"]
    ok = subprocess.run(argv, env={**base_env, **env_example()}, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    refused = subprocess.run(argv, env=base_env, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "in .env" in refused.stderr, refused.stderr
