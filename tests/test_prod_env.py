"""docker-compose.yaml and `make prod` (contrail.prod) describe one production shape with one set of settings.

deploy/prod.env holds what does not depend on the host and both read it; each sets the per-host
values under the same names. Fast: nothing is started, airflow is not imported.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import yaml

from contrail import localenv, prod

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
AIRFLOW_SERVICES = [name for name, svc in COMPOSE["services"].items() if name.startswith("airflow-")]


def env_example_keys() -> set[str]:
    return set(localenv.load(ROOT / ".env.example", environ={}))


def test_every_airflow_service_and_mlflow_read_the_one_env_file():
    for name in [*AIRFLOW_SERVICES, "mlflow"]:
        assert COMPOSE["services"][name].get("env_file") == ["deploy/prod.env"], name


def test_no_shared_setting_is_set_a_second_time_in_the_compose_file():
    shared = set(prod.shared())
    for name, svc in COMPOSE["services"].items():
        again = shared & set(svc.get("environment") or {})
        assert not again, f"{name} sets {sorted(again)} again: they belong to deploy/prod.env only"


def test_make_prod_sets_the_same_per_host_names_as_compose(tmp_path):
    compose_names = set(COMPOSE["x-airflow-common"]["environment"])
    here = set(prod.host_settings(tmp_path, prod.Ports(), prod.secrets(tmp_path)))
    assert here == compose_names, (f"only in compose: {sorted(compose_names - here)}; "
                                   f"only in make prod: {sorted(here - compose_names)}")


def test_make_prods_environment_is_prod_env_plus_this_host_and_drops_other_deployments(tmp_path):
    caller = {"PATH": "/usr/bin", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
              "AIRFLOW__CORE__EXECUTOR": "LocalExecutor", "CONTRAIL_POSTGRES_DIR": "/elsewhere",
              "MLFLOW_TRACKING_URI": "postgresql://other", "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": "18793"}
    ports = prod.Ports.free()
    env = prod.environment(tmp_path, ports, base=caller)
    shared = prod.shared()
    assert {k: env[k] for k in shared} == shared
    assert env["PATH"] == "/usr/bin"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "False"  # login required
    assert env["CONTRAIL_POSTGRES_DIR"] == str(tmp_path / "postgres")
    assert env["MLFLOW_TRACKING_URI"] == f"http://127.0.0.1:{ports.mlflow}"
    assert env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] == str(ports.worker_logs)
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"http://127.0.0.1:{ports.api}/execution/"


def test_the_embedded_default_keeps_no_login_on_127_0_0_1_and_the_production_shape_requires_one():
    local = localenv.load(environ={})
    assert local["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "True"
    assert local["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert prod.shared()["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "False"
    assert prod.here_only(Path("/s"), prod.Ports())["AIRFLOW__API__HOST"] == "127.0.0.1"


def test_generated_secrets_use_env_example_names_stay_private_and_stable(tmp_path):
    from cryptography.fernet import Fernet

    first = prod.secrets(tmp_path)
    assert set(first) <= env_example_keys(), f"not in .env.example: {sorted(set(first) - env_example_keys())}"
    assert {prod.password_key(user) for user in prod.users()} <= set(first)
    assert stat.S_IMODE((tmp_path / "secrets.env").stat().st_mode) == 0o600
    assert prod.secrets(tmp_path) == first
    assert len(set(first.values())) == len(first)  # no two secrets alike
    Fernet(first["AIRFLOW_FERNET_KEY"].encode())  # a valid key, or this raises
    assert min(len(first[k]) for k in ("AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY")) >= 64  # HS512 keys


def test_the_passwords_file_holds_every_user_and_a_missing_password_is_refused_by_name(tmp_path):
    env = {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp_path / "airflow" / "passwords.json")}
    secret = {prod.password_key(user): f"pw-{user}" for user in prod.users()}
    prod.write_passwords(env, secret)
    path = tmp_path / "airflow" / "passwords.json"
    assert json.loads(path.read_text()) == {user: f"pw-{user}" for user in prod.users()}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(SystemExit, match="AIRFLOW_VIEWER_PASSWORD.*set them in .env"):
        prod.write_passwords(env, {"AIRFLOW_ADMIN_PASSWORD": "x"})
