"""The embedded PostgreSQL of the local deployment: started from the wheel, reused, stopped, keeps its data."""

from __future__ import annotations

import subprocess
import sys

import psycopg2
import pytest

from contrail import localenv, postgres


def query(pgdata, sql, database="airflow"):
    conn = psycopg2.connect(postgres.url(database, pgdata), connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def test_a_second_start_reuses_the_server_and_a_restart_keeps_the_data(tmp_path):
    pgdata = postgres.start(tmp_path / "pg")
    try:
        pid = postgres.running(pgdata)
        assert pid and (pgdata / ".s.PGSQL.5432").is_socket()
        assert {"airflow", "mlflow"} <= {r[0] for r in query(pgdata, "SELECT datname FROM pg_database")}
        assert query(pgdata, "SHOW max_connections") == [(str(postgres.MAX_CONNECTIONS),)]
        assert query(pgdata, "SHOW listen_addresses") == [("",)]  # the socket only, no TCP port
        query(pgdata, "CREATE TABLE kept (day text)")
        query(pgdata, "INSERT INTO kept VALUES ('2013-05-01')")

        assert postgres.start(pgdata) == pgdata and postgres.running(pgdata) == pid  # in process: reused

        out = subprocess.run([sys.executable, "-m", "contrail.postgres", "status"], capture_output=True, text=True,
                             env={**localenv.load(), "CONTRAIL_POSTGRES_DIR": str(pgdata), "PATH": "/usr/bin:/bin"})
        assert f"running (pid {pid})" in out.stdout, out.stderr
    finally:
        assert postgres.stop(pgdata)
    assert postgres.running(pgdata) is None and not postgres.stop(pgdata)

    postgres.start(pgdata)
    try:
        assert query(pgdata, "SELECT day FROM kept") == [("2013-05-01",)]
    finally:
        postgres.stop(pgdata)


def test_a_data_folder_too_long_for_a_socket_is_refused_naming_the_setting(tmp_path):
    deep = tmp_path / ("x" * 60) / ("y" * 40)
    with pytest.raises(postgres.PostgresError, match=r"CONTRAIL_POSTGRES_DIR=.* characters.*shorter folder"):
        postgres.start(deep)
    assert not deep.exists()


def test_the_deployment_needs_the_server_only_when_a_database_points_at_it(tmp_path):
    env = {"CONTRAIL_POSTGRES_DIR": str(tmp_path / "pg"),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.url("airflow", tmp_path / "pg", "postgresql+psycopg2"),
           "MLFLOW_TRACKING_URI": "http://mlflow:5000"}
    assert postgres.needed(env)
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = "postgresql+psycopg2://airflow@db:5432/airflow"
    assert not postgres.needed(env)
    env["CONTRAIL_PROMOTION_LOCK_URL"] = postgres.url("mlflow", tmp_path / "pg")
    assert postgres.needed(env)


def test_the_local_environment_puts_every_database_on_the_embedded_server():
    env = localenv.load(environ={}, state="/srv/contrail-state")
    pgdata = postgres.data_dir(env)
    assert str(pgdata) == "/srv/contrail-state/postgres"
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "MLFLOW_TRACKING_URI", "CONTRAIL_PROMOTION_LOCK_URL"):
        assert postgres.served_here(env[key], pgdata), key
