"""A partition writer for the kill tests: commits FILES files of ROWS rows (one version) through
`storage.commit_staged`, optionally slowed down at each step so that a test can kill it at a chosen point.

The tests fork it (`after_fork`, `slowed`, then `commit`) and kill it when it prints the step they want.
"""

from __future__ import annotations

import shutil
import time

from contrail import storage

FILES, ROWS = 6, 100  # keys 0 .. FILES*ROWS-1
PARTITION = "t/dt=2013-01-01"


def commit(version: str, pause: float = 0.0) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    dest = storage.location(PARTITION)

    def write(staging) -> None:
        dest.fs.makedirs(staging.path, exist_ok=True)
        for i in range(FILES):
            table = pa.table({"key": [i * ROWS + j for j in range(ROWS)], "version": [version] * ROWS})
            with dest.fs.open(f"{staging.path}/part-{i:05d}-{version}.parquet", "wb") as fh:
                pq.write_table(table, fh)
            step(f"wrote {i}", pause)

    storage.commit_staged(dest, write)
    step("done", 0)


def step(line: str, pause: float) -> None:
    if pause:
        print(line, flush=True)
        time.sleep(pause)


def after_fork() -> None:
    """A forked writer must not reuse its parent's object-store clients (their event loop stayed in the parent):
    forget Airflow's filesystem per connection and fsspec's cached instances."""
    from airflow.sdk.io import store
    from fsspec.registry import _registry

    store._STORE_CACHE.clear()
    for cls in _registry.values():
        cls.clear_instance_cache()


def slowed(pause: float) -> None:
    """Slow the two swaps down: the local one's last step (removing the old partition), the object store's moves."""
    dest = storage.location(PARTITION)
    rmtree, mv = shutil.rmtree, type(dest.fs).mv

    def slow_rmtree(path, *args, **kwargs):
        step("swapped", pause * 20)
        rmtree(path, *args, **kwargs)

    def slow_mv(self, src, dst, *args, **kwargs):
        mv(self, src, dst, *args, **kwargs)
        step(("to trash " if "/_trash-" in dst else "into place ") + dst, pause)

    shutil.rmtree, type(dest.fs).mv = slow_rmtree, slow_mv

