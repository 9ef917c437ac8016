"""How a partition is put in place so that readers see the old one or the new one, never neither and never half.

Standard library only: the Spark jobs use it as they are, and `contrail.storage` commits through the same
functions. On a local lake (`file://`) a new partition is written to a staging folder beside the dataset
and then swapped in as a whole: one atomic `renameat2(RENAME_EXCHANGE)` on Linux, two renames elsewhere
(a kill between them leaves the old partition in a trash folder, which the next commit puts back).

A Spark job publishes its per-day partitions with `publish_local` on a local lake through a staging folder of
its own, locked for as long as the job lives, so that the next job can tell a killed job's leftovers
(lock free: removed) from a running job's (lock held: left alone). On object stores (EMR, Dataproc,
HDInsight, where a cluster gets the job file alone) the jobs use Spark's dynamic partition overwrite.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import shutil
import uuid
from urllib.parse import urlparse

JOB_STAGING, TRASH = "_staging-job-", "_trash-"


def swap_folders(staging: str, dest: str, trash: str) -> None:
    """Put the filled folder `staging` in place of `dest` (local paths), atomically where the system can."""
    if not os.path.exists(dest):
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.rename(staging, dest)
    elif exchange(staging, dest):
        shutil.rmtree(staging)  # it holds the old partition now
    else:  # no renameat2: two renames; a kill between them leaves trash, which the next commit puts back
        os.rename(dest, trash)
        os.rename(staging, dest)
        shutil.rmtree(trash)


def exchange(a: str, b: str) -> bool:
    """Swap two paths atomically (Linux renameat2 with RENAME_EXCHANGE); False where the system cannot."""
    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "renameat2"):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: this file system cannot exchange
        return False
    raise OSError(errno, os.strerror(errno), b)


def publish_local(frame, root: str, days: list[str]) -> None:
    """Write `frame` (with a `dt` column) as the `dt=` partitions of the local dataset at `root` (file://),
    each day swapped in whole; a day without rows keeps its partition, as dynamic partition overwrite does."""
    local = urlparse(root).path.rstrip("/")
    os.makedirs(local, exist_ok=True)
    sweep_jobs(local)
    staging = f"{local}/{JOB_STAGING}{uuid.uuid4().hex[:12]}"
    with open(f"{staging}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        frame.write.mode("overwrite").partitionBy("dt").parquet(f"file://{staging}")
        for day in days:
            if os.path.isdir(f"{staging}/dt={day}"):
                swap_folders(f"{staging}/dt={day}", f"{local}/dt={day}", f"{staging}/{TRASH}dt={day}")
        shutil.rmtree(staging)
    os.remove(f"{staging}.lock")


def sweep_jobs(local: str) -> list[str]:
    """Remove the staging folders of jobs that died, first putting back any partition a two-rename swap had moved
    to trash; return the folders removed. A job's lock file exists before its folder and is held while it runs:
    a folder whose lock is free or gone (a Spark server that went on writing for a killed client) is a leftover."""
    removed = []
    for name in sorted(os.listdir(local)):
        if not name.startswith(JOB_STAGING):
            continue
        staging = f"{local}/{name.removesuffix('.lock')}"
        if name.endswith(".lock") and os.path.exists(staging):
            continue  # swept with its folder
        with _unless_running(f"{staging}.lock") as dead:
            if not dead:
                continue
            for trash in os.listdir(staging) if os.path.isdir(staging) else []:
                dest = f"{local}/{trash[len(TRASH):]}"
                if trash.startswith(TRASH) and not os.path.exists(dest):
                    os.rename(f"{staging}/{trash}", dest)
            if os.path.isdir(staging):
                shutil.rmtree(staging, ignore_errors=True)
                removed.append(staging)
            os.remove(f"{staging}.lock")
    return removed


@contextlib.contextmanager
def _unless_running(lock_path: str):
    """Yield True holding the job lock at `lock_path` (created if gone) when no live job holds it, else False."""
    with open(lock_path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
