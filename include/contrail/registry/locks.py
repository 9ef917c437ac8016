"""The promotion lock: MLflow aliases have no compare-and-set, so read-check-write runs under a lock.

* Everywhere but the SQLite fallback: a PostgreSQL advisory lock (session level, freed if the
  holder dies) on the database named by CONTRAIL_PROMOTION_LOCK_URL, the MLflow backend database
  (the embedded server's `mlflow` locally, the server's own in production); a PostgreSQL
  tracking store needs no setting, it is its own lock database.
* SQLite tracking store: an exclusive fcntl lock on a file next to the database (same host).
"""

from __future__ import annotations

import contextlib
import os
import time

from contrail.config import ConfigError
from contrail.registry import tracking


class LockTimeout(RuntimeError):
    """Another promotion held the lock for longer than the wait allows."""


@contextlib.contextmanager
def promotion_lock(model: str, timeout_s: float = 600):
    uri = tracking.tracking_uri()
    db = tracking.sqlite_path(uri)
    if db is not None:
        with _file_lock(db.parent / f".promote-{model}.lock", timeout_s):
            yield
        return
    url = os.environ.get("CONTRAIL_PROMOTION_LOCK_URL") or (uri if uri.startswith("postgresql") else None)
    if not url:
        raise ConfigError(f"promotion with the MLflow server {tracking.shown_uri(uri)} needs CONTRAIL_PROMOTION_LOCK_URL, "
                          "a PostgreSQL URL (e.g. the server's backend database) on which promotions take an advisory lock")
    from contrail import masking

    masking.mask_password(url)  # its password never shows in the task log
    with _pg_lock(url, f"contrail:promote:{model}", timeout_s):
        yield


@contextlib.contextmanager
def _file_lock(path, timeout_s: float):
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LockTimeout(f"promotion lock {path} still held after {timeout_s:.0f} s") from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def _pg_lock(url: str, key: str, timeout_s: float):
    import psycopg2

    url = tracking.plain_postgres_url(url)
    try:
        conn = psycopg2.connect(url, connect_timeout=10)
    except psycopg2.OperationalError as exc:
        raise ConfigError(f"cannot reach the promotion lock database CONTRAIL_PROMOTION_LOCK_URL: {exc}".strip()) from exc
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            deadline = time.monotonic() + timeout_s
            while True:
                cur.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,))
                if cur.fetchone()[0]:
                    break
                if time.monotonic() > deadline:
                    raise LockTimeout(f"promotion lock {key!r} still held after {timeout_s:.0f} s")
                time.sleep(0.1)
        yield
    finally:
        conn.close()  # ends the session, which releases the advisory lock
