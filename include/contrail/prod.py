"""`make prod`: the production shape of docker-compose.yaml, run here as processes (no Docker).

The same settings as the compose file: deploy/prod.env holds what does not depend on the host and
both read it; the host's values below carry the same names as compose's x-airflow-common
environment (tests/test_prod_env.py checks both). Processes, as compose's services:

    postgres        the embedded server in <state>/postgres (Airflow's metadata, MLflow's store, the lock)
    redis           Debian's redis-server, the Celery broker, with a password
    s3              a moto server standing in for MinIO: MLflow's artifact store (in memory)
    mlflow          `mlflow server` on PostgreSQL, proxying artifacts to s3://mlflow/artifacts
    api-server      login required (SimpleAuthManager; passwords from the secrets), on 127.0.0.1
    scheduler, dag-processor, triggerer, celery-worker (CeleryExecutor)

The lake is <state>/lake, a folder the workers share (a volume in compose). The secrets are
generated once into <state>/secrets.env (mode 600, the names of .env.example) and never printed.

    python -m contrail.prod [--state DIR] [--port 8080]    # serve until Ctrl-C
    python -m contrail.prod --stop [--state DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import secrets as _secrets
import signal
import socket
import sys
from pathlib import Path

from contrail import localenv
from contrail.config import PROJECT_ROOT

PROD_ENV = PROJECT_ROOT / "deploy" / "prod.env"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
DEFAULT_STATE = PROJECT_ROOT / ".contrail-prod"
ARTIFACTS_BUCKET = "mlflow"
# Variables of the caller's environment that would leak another deployment into this one.
FOREIGN = ("AIRFLOW", "CONTRAIL_", "MLFLOW_", "SPARK_", "AWS_", "GX_", "PYSPARK")
# Secrets of .env.example this shape uses (the PostgreSQL server is reached on its socket; MinIO's root is moto's).
SECRETS = ("REDIS_PASSWORD", "CONTRAIL_S3_ACCESS_KEY", "CONTRAIL_S3_SECRET_KEY", "AIRFLOW_FERNET_KEY",
           "AIRFLOW_API_SECRET_KEY", "AIRFLOW_JWT_SECRET")


@dataclasses.dataclass(frozen=True)
class Ports:
    """The TCP ports on 127.0.0.1; in compose each container has its own, here they must not meet `make run`'s."""

    api: int = 8090
    mlflow: int = 5090
    redis: int = 6390
    s3: int = 5091
    spark: int = 15190
    worker_logs: int = 8890
    trigger_logs: int = 8891
    scheduler_health: int = 8892

    @classmethod
    def free(cls) -> "Ports":
        """Ports the OS says are free now (for tests)."""
        held = [socket.socket() for _ in dataclasses.fields(cls)]
        for s in held:
            s.bind(("127.0.0.1", 0))
        try:
            return cls(*(s.getsockname()[1] for s in held))
        finally:
            for s in held:
                s.close()


def shared() -> dict[str, str]:
    """deploy/prod.env: the settings compose and this command share."""
    return localenv.load(PROD_ENV, environ={})


def users() -> list[str]:
    """The SimpleAuthManager user names of prod.env."""
    return [entry.split(":")[0] for entry in shared()["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(",")]


def password_key(user: str) -> str:
    return f"AIRFLOW_{user.upper()}_PASSWORD"


def secrets(state: Path) -> dict[str, str]:
    """<state>/secrets.env, created on first use with fresh random values (mode 600)."""
    path = state / "secrets.env"
    if not path.exists():
        from cryptography.fernet import Fernet

        state.mkdir(parents=True, exist_ok=True)
        values = {key: _secrets.token_urlsafe(24) for key in (*SECRETS, *map(password_key, users()))}
        values["AIRFLOW_FERNET_KEY"] = Fernet.generate_key().decode()
        for key in ("AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY"):  # HS512 wants a key of 64 bytes or more
            values[key] = _secrets.token_urlsafe(64)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("# make prod's secrets (generated; never commit or print them)\n")
            out.writelines(f"{key}={value}\n" for key, value in values.items())
    return localenv.load(path, environ={})


def host_settings(state: Path, ports: Ports, secret: dict[str, str]) -> dict[str, str]:
    """This host's values of the variables compose sets in x-airflow-common's environment (the same names)."""
    from contrail.postgres import url

    pg = state / "postgres"
    db = url("airflow", pg, driver="postgresql+psycopg2")
    api = f"http://127.0.0.1:{ports.api}"
    return {
        "AIRFLOW_HOME": str(state / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__FERNET_KEY": secret["AIRFLOW_FERNET_KEY"],
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(state / "airflow" / "passwords.json"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db,
        "AIRFLOW__CELERY__BROKER_URL": f"redis://:{secret['REDIS_PASSWORD']}@127.0.0.1:{ports.redis}/0",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{db}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
        "AIRFLOW__API__BASE_URL": api,
        "AIRFLOW__API__SECRET_KEY": secret["AIRFLOW_API_SECRET_KEY"],
        "AIRFLOW__API_AUTH__JWT_SECRET": secret["AIRFLOW_JWT_SECRET"],
        "CONTRAIL_DATA_ROOT": str(state / "lake"),
        "CONTRAIL_LANDING_URL": str(state / "landing"),
        "CONTRAIL_STATE_DIR": str(state),
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{ports.mlflow}",
        "CONTRAIL_MLFLOW_UI_URL": f"http://127.0.0.1:{ports.mlflow}",
        "CONTRAIL_PROMOTION_LOCK_URL": url("mlflow", pg),
    }


def here_only(state: Path, ports: Ports) -> dict[str, str]:
    """What only a shared host needs: the embedded server's folder and ports that containers would not share."""
    return {
        "CONTRAIL_POSTGRES_DIR": str(state / "postgres"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(ports.api),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(ports.worker_logs),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(ports.trigger_logs),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(ports.scheduler_health),
        "CONTRAIL_SPARK_CONNECT_PORT": str(ports.spark),
    }


def environment(state: Path, ports: Ports, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every process of the shape: `base` (os.environ) without other deployments' settings."""
    base = dict(os.environ if base is None else base)
    clean = {k: v for k, v in base.items() if not k.startswith(FOREIGN)}
    return {**clean, **shared(), **host_settings(state, ports, secrets(state)), **here_only(state, ports)}


def s3_env(env: dict[str, str], ports: Ports) -> dict[str, str]:
    """The MLflow server's view of the artifact store (compose: MinIO with the service account)."""
    secret = secrets(Path(env["CONTRAIL_STATE_DIR"]))
    return {**env, "MLFLOW_S3_ENDPOINT_URL": f"http://127.0.0.1:{ports.s3}", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": secret["CONTRAIL_S3_ACCESS_KEY"], "AWS_SECRET_ACCESS_KEY": secret["CONTRAIL_S3_SECRET_KEY"]}


def write_passwords(env: dict[str, str], secret: dict[str, str]) -> None:
    """SimpleAuthManager's passwords file: each prod.env user's AIRFLOW_<NAME>_PASSWORD from `secret`.

    The compose api-server calls it at each start with its environment (from .env) as `secret`."""
    missing = [password_key(user) for user in users() if not secret.get(password_key(user))]
    if missing:
        raise SystemExit(f"no password for {', '.join(missing)}: set them in .env (see .env.example)")
    path = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({user: secret[password_key(user)] for user in users()}, out)


class Shape:
    """The production shape's processes (started in dependency order) with their logs in <state>/logs."""

    def __init__(self, state: Path, ports: Ports, **settings: str):
        """`settings`: more variables for every process (e.g. CONTRAIL_ALERTS_CONN_ID and its connection)."""
        from contrail.local_run import Deployment

        self.state, self.ports = state.resolve(), ports
        self.env = {**environment(self.state, ports), **settings}
        self.url = self.env["AIRFLOW__API__BASE_URL"]
        self.deployment = Deployment(self.env)
        self.bin = Path(sys.executable).parent

    def password(self, user: str) -> str:
        return secrets(self.state)[password_key(user)]

    def start(self, timeout: float = 300) -> "Shape":
        import subprocess

        from contrail import postgres
        from contrail.local_run import COMPONENTS, healthy, wait_for
        from contrail.spark.connect import is_up as listening

        for port in dataclasses.astuple(self.ports):
            if listening(port):
                raise RuntimeError(f"port {port} on 127.0.0.1 is busy: stop what uses it (make stop) or pick --port")
        postgres.start(Path(self.env["CONTRAIL_POSTGRES_DIR"]))
        redis_dir = self.state / "redis"
        redis_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets(self.state)
        # the password goes through stdin (a config read from "-"), never into argv or a log
        redis = subprocess.Popen(["redis-server", "-"], stdin=subprocess.PIPE, env=self.env, start_new_session=True,
                                 stdout=open(self.deployment.logs / "redis.log", "ab"), stderr=subprocess.STDOUT)  # nosec B607  # Debian's, on PATH
        redis.stdin.write(f"port {self.ports.redis}\nbind 127.0.0.1\nrequirepass {secret['REDIS_PASSWORD']}\n"
                          f"dir {redis_dir}\nsave \"\"\nappendonly no\n".encode())
        redis.stdin.close()
        self.deployment.procs["redis"] = redis
        self.deployment.start({"s3": [str(self.bin / "moto_server"), "-H", "127.0.0.1", "-p", str(self.ports.s3)]},
                              components=())
        wait_for("moto (S3)", lambda: listening(self.ports.s3) and listening(self.ports.redis), self.deployment, 60)
        self._bucket()
        self.deployment.cli("db", "migrate")
        mlflow_store = postgres.url("mlflow", Path(self.env["CONTRAIL_POSTGRES_DIR"]), driver="postgresql+psycopg2")
        self.deployment.start({"mlflow": [str(self.bin / "mlflow"), "server", "--backend-store-uri", mlflow_store,
                                          "--artifacts-destination", f"s3://{ARTIFACTS_BUCKET}/artifacts",
                                          "--host", "127.0.0.1", "--port", str(self.ports.mlflow), "--workers", "1"]},
                              components=(), env=s3_env(self.env, self.ports))
        subprocess.run([sys.executable, "-m", "contrail.spark.connect", "start"], env=self.env, check=True,
                       stdout=subprocess.DEVNULL)
        wait_for("the MLflow server", lambda: healthy(f"{self.env['MLFLOW_TRACKING_URI']}/health"), self.deployment, 180)
        write_passwords(self.env, secret)
        self.deployment.start({"celery-worker": [self.deployment.airflow, "celery", "worker"]}, components=COMPONENTS)
        wait_for("the api-server", lambda: healthy(f"{self.url}/api/v2/monitor/health"), self.deployment, timeout)
        return self

    def _bucket(self) -> None:
        import boto3

        env = s3_env(self.env, self.ports)
        s3 = boto3.client("s3", endpoint_url=env["MLFLOW_S3_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
        s3.create_bucket(Bucket=ARTIFACTS_BUCKET)

    def stop(self) -> None:
        import subprocess

        from contrail import postgres

        self.deployment.stop()
        subprocess.run([sys.executable, "-m", "contrail.spark.connect", "stop"], env=self.env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        postgres.stop(Path(self.env["CONTRAIL_POSTGRES_DIR"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE, help=f"state folder (default {DEFAULT_STATE})")
    parser.add_argument("--port", type=int, default=Ports.api, help="the api-server's port (default %(default)s)")
    parser.add_argument("--stop", action="store_true", help="stop what an earlier `make prod` left running")
    args = parser.parse_args(argv)
    if args.stop and not (args.state / "secrets.env").exists():
        return 0  # never started here
    shape = Shape(args.state, dataclasses.replace(Ports(), api=args.port))
    if args.stop:
        from contrail.local_run import stop_leftovers

        print(f"[contrail] stopped {stop_leftovers(shape.env)} process(es)")
        shape.stop()
        return 0
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    print(f"[contrail] starting the production shape in {shape.state} (logs in {shape.deployment.logs})", flush=True)
    try:
        shape.start()
        print(f"[contrail] Airflow UI {shape.url} (login: admin or viewer; passwords in {shape.state}/secrets.env as "
              f"AIRFLOW_ADMIN_PASSWORD / AIRFLOW_VIEWER_PASSWORD), MLflow {shape.env['MLFLOW_TRACKING_URI']}, "
              "CeleryExecutor with Redis. The DAGs start paused: unpause them in the UI. Ctrl-C stops it all.", flush=True)
        shape.deployment.until_interrupted()
    finally:
        shape.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
