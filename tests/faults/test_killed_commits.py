"""Scenario 1, the lake's own commit: a writer process SIGKILLed early, midway and late while it replaces a
partition, on a local lake and on S3 (a moto server), then retried.

On a local lake a reader polling the partition the whole time must only ever see the old partition or the
new one, whole; after the kill the partition is whole; the retry converges to the new partition with no
staging or trash folder left. On S3 the kill may leave the swap half done (a reader there can see half a
partition during a swap: see `storage.commit_staged`); the retry must recover it and converge the same way.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback

import pytest

from contrail import storage

from faults import writer
from faults.writer import FILES, ROWS, commit

KILL_POINTS = {  # backend -> {point: the writer's line after which it is killed}
    "local": {"early": "wrote 0", "midway": f"wrote {FILES // 2}", "late": "swapped"},
    "s3": {"early": "wrote 0", "midway": "to trash", "late": "into place"},
}


def kill_writer(version: str, kill_after: str, started) -> None:
    """Fork the slowed writer (a process of its own, without paying Airflow's import again) and SIGKILL it as
    soon as it prints a line starting with `kill_after`; `started()` runs between the fork and the first write."""
    out_r, out_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the writer
        try:
            os.close(out_r), os.close(go_w)
            os.read(go_r, 1)
            os.dup2(out_w, 1)
            sys.stdout = os.fdopen(1, "w", buffering=1)
            writer.after_fork()
            writer.slowed(0.05)
            writer.commit(version, 0.05)
        except BaseException:
            traceback.print_exc()  # to the test's stderr: the parent then fails, showing the lines it saw
        finally:
            os._exit(0)
    os.close(out_w), os.close(go_r)
    started()
    os.write(go_w, b"!")
    seen = []
    with os.fdopen(out_r) as out:
        for line in out:
            seen.append(line.strip())
            if line.startswith(kill_after):
                os.kill(pid, signal.SIGKILL)
                break
    os.close(go_w)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, seen


def state():
    """(versions, row count, distinct keys) of the partition as a reader sees it now."""
    frame = storage.read_parquet(storage.location("t/dt=2013-01-01"))
    return set(frame["version"]), len(frame), frame["key"].nunique()


def whole(seen, versions=("A", "B")) -> bool:
    found, rows, keys = seen
    return len(found) == 1 and found <= set(versions) and rows == keys == FILES * ROWS


class Reader(threading.Thread):
    """Reads the partition in a loop while a writer works; keeps every observation that was not a whole version."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop, self.reads, self.rows, self.bad = threading.Event(), 0, 0, []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                seen = state()
            except storage.MissingPartition as exc:  # neither the old partition nor the new one
                self.bad.append(repr(exc))
                continue
            self.reads += 1
            self.rows += seen[1]
            if not whole(seen):
                self.bad.append(seen)
            time.sleep(0.01)  # leave the writer the CPU


def leftovers(backend: str, s3_client=None, bucket=None) -> list[str]:
    if backend == "local":
        base = storage.location("t")
        return sorted(p for p in base.fs.find(base.path, withdirs=True) if "/_" in p)
    return sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket).get("Contents", []) if "/_" in o["Key"])


@pytest.fixture(params=["local", "s3"])
def backend(request, tmp_path, monkeypatch):
    if request.param == "local":
        monkeypatch.setenv("CONTRAIL_DATA_ROOT", str(tmp_path / "lake"))
        return "local", None, None
    client, bucket = request.getfixturevalue("s3_lake")
    return "s3", client, bucket


@pytest.mark.parametrize("point", ["early", "midway", "late"])
def test_a_writer_killed_while_replacing_a_partition_loses_nothing_and_its_retry_converges(backend, point, fault_report):
    name, client, bucket = backend
    commit("A")
    assert whole(state(), "A")
    reader = Reader()
    kill_writer("B", KILL_POINTS[name][point], reader.start if name == "local" else lambda: None)
    if name == "local":
        after_kill = state()
        assert whole(after_kill, "B" if point == "late" else "A"), after_kill
    commit("B")  # the retry
    reader.stop.set()
    if name == "local":
        reader.join(timeout=30)
        assert reader.reads > 0 and reader.bad == [], reader.bad[:5]
    final = state()
    assert whole(final, "B") and leftovers(name, client, bucket) == []
    fault_report.add("1 killed writer: lake commit", faults=1, cases=1, rows=reader.rows + final[1],
                     lost=FILES * ROWS - final[2], duplicates=final[1] - final[2])
