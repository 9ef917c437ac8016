"""One path layer over ObjectStoragePath: the same code writes to a folder, S3, GCS or Azure Blob."""

from __future__ import annotations

import datetime as dt
import functools
import io
import uuid
from urllib.parse import urlparse

from contrail.config import ConfigError, Profile, profile as active_profile
from contrail.failures import Deterministic
from spark_jobs import lake

KNOWN_SCHEMES = {"file", "s3", "gs", "gcs", "abfs", "abfss", "az", "wasb", "wasbs", "memory"}
PART_FILE = "part-00000.parquet"
STAGING, TRASH = "_staging-", lake.TRASH  # sibling folders of a partition being committed; readers skip "_" names
WHOLE = "_WHOLE"  # written into a trash folder once every old file is in it


class StorageError(RuntimeError):
    """Reading or writing the lake failed; the message names the path. The store may answer next time: retried."""


class MissingPartition(Deterministic, StorageError):
    """A partition that should be there is not (or holds no Parquet file): fails at once."""


class UnreadableFile(Deterministic, StorageError):
    """A Parquet file that cannot be decoded (truncated, not Parquet): fails at once, unlike a read the store broke off."""


def check_url(url: str) -> str:
    """Refuse a data-root URL that no backend can serve or that would leave its place (contrail.inputs),
    naming it and the accepted forms."""
    from contrail import inputs

    return inputs.storage_url(url, "CONTRAIL_DATA_ROOT", tuple(sorted(KNOWN_SCHEMES)))


def path(url: str, conn_id: str | None):
    """An ObjectStoragePath for `url` through connection `conn_id`.

    Azure URLs name the account as `container@account.dfs.core.windows.net`, the form Spark needs;
    ObjectStoragePath would read that `container@` as a connection id, so it gets `abfs://container/…`
    and the account comes from the connection.
    """
    from airflow.sdk import ObjectStoragePath

    parsed = urlparse(url)
    if parsed.scheme in ("abfs", "abfss", "az") and "@" in parsed.netloc:
        url = f"{parsed.scheme}://{parsed.netloc.split('@', 1)[0]}{parsed.path}"
    return ObjectStoragePath(url, conn_id=conn_id)


def root(prof: Profile | None = None):
    """The data-lake root of a profile as an ObjectStoragePath."""
    prof = prof or active_profile()
    url = check_url(prof.data_root)
    if prof.storage_conn_id:
        check_connection(prof.storage_conn_id, prof.conn_setting)
    return path(url, prof.storage_conn_id)


@functools.lru_cache(maxsize=16)
def check_connection(conn_id: str, setting: str | None) -> None:
    """The lake's Airflow connection must exist (checked once per process), or the error names the setting."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise ConfigError(f"the Airflow connection {conn_id!r} ({setting or 'the profile'}) of the lake does not exist: "
                          f"define it (AIRFLOW_CONN_{conn_id.upper()}, the UI, or the secrets backend)") from None


def location(relative: str, prof: Profile | None = None):
    """The ObjectStoragePath of a path relative to the lake root."""
    return root(prof) / relative


def spark_uri(relative: str, prof: Profile | None = None) -> str:
    """The URI under which Spark (local, EMR, Dataproc, HDInsight) reads the same path."""
    prof = prof or active_profile()
    base = check_url(prof.data_root)
    scheme, rest = base.split("://", 1)
    return f"{prof.spark_scheme}://{rest}/{relative}"


def write_parquet_atomically(table, dest) -> int:
    """Replace the partition folder `dest` with one Parquet file holding `table`; return its row count.

    The file is written to a sibling staging folder and moved into place, so readers see the old
    partition or the new one, never half of either; a re-run replaces, it never appends.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    def write(staging) -> None:
        arrow = table if isinstance(table, pa.Table) else pa.Table.from_pandas(table, preserve_index=False)
        buf = io.BytesIO()
        pq.write_table(arrow, buf)
        dest.fs.makedirs(staging.path, exist_ok=True)
        with dest.fs.open(f"{staging.path}/{PART_FILE}", "wb") as fh:
            fh.write(buf.getvalue())

    commit_staged(dest, write)
    return len(table)


def commit_staged(dest, write) -> None:
    """Call `write(staging)` to fill a sibling staging folder, then put it in place of `dest` so readers see the
    old partition or the new one, never neither and never half.

    Any writer can fill the staging folder (pyarrow here, Spark in the quality gate). On a local lake the
    swap is one atomic exchange of the two folders (`spark_jobs/lake.py`, which the Spark jobs publish
    through too). On object stores the old files go to a trash folder and the new ones into place, file
    by file: a reader can see half a partition during that swap (a pointer written last would close
    that gap; not built yet). A failure puts the old partition back; a kill leaves staging or trash
    folders that the next commit of `dest` rolls back or forward (`recover`).
    """
    fs, parent = dest.fs, dest.parent
    tag = uuid.uuid4().hex[:12]
    staging = parent / f"{STAGING}{dest.name}-{tag}"
    trash = parent / f"{TRASH}{dest.name}-{tag}"
    try:
        sweep_leftovers(dest)
        write(staging)
        if is_local(dest):
            lake.swap_folders(staging.path, dest.path, trash.path)
        else:
            _swap_files(fs, staging.path, dest.path, trash.path)
    except Exception as exc:
        _remove(fs, staging.path)
        raise StorageError(f"could not write {dest}: {type(exc).__name__}: {exc}") from exc


def is_local(dest) -> bool:
    """Is `dest` (an ObjectStoragePath) on the local file system (a folder lake, not an object store)?"""
    return dest.protocol in ("file", "local", "")


def _swap_files(fs, staging: str, dest: str, trash: str) -> None:
    """Object stores have no folder rename: old files (if any) to trash, then a marker saying trash is whole,
    then the new files in. The marker is written even when there was nothing old, so that `recover` rolls a
    kill during the last step forward instead of leaving half a partition."""
    _move_files(fs, dest, trash)
    fs.pipe_file(f"{trash}/{WHOLE}", b"")
    try:
        _move_files(fs, staging, dest)
    except Exception:
        _remove(fs, dest)
        _move_files(fs, trash, dest)
        raise
    _remove(fs, trash)


def remove_partition(dest) -> None:
    """Delete a partition folder if it exists (a derived partition that must no longer be read)."""
    _remove(dest.fs, dest.path)


def sweep_leftovers(dest) -> None:
    """Finish what killed earlier commits of `dest` left behind: roll each back or forward (`recover`)."""
    fs = dest.fs
    for path in fs.glob(f"{dest.parent.path}/{TRASH}{dest.name}-*"):
        recover(fs, dest.path, path, path.replace(f"/{TRASH}", f"/{STAGING}", 1))
    for path in fs.glob(f"{dest.parent.path}/{STAGING}{dest.name}-*"):
        _remove(fs, path)


def recover(fs, dest: str, trash: str, staging: str) -> None:
    """Finish a commit that was killed after it began moving the old partition (`dest`) to `trash`.

    Without the marker, trash holds only part of the old files and the rest is still in `dest`: the old
    files go back (roll back). With it, `dest` was emptied before any new file went in: the new files left
    in staging follow (roll forward) and trash goes. A local two-rename swap killed between its renames
    leaves a whole trash and no `dest`: rolled back the same way.
    """
    if fs.exists(f"{trash}/{WHOLE}"):
        if fs.exists(staging):
            _move_files(fs, staging, dest)
        _remove(fs, trash)
    else:
        _move_files(fs, trash, dest)
        _remove(fs, staging)


def _move_files(fs, src: str, dst: str) -> None:
    # File by file: fsspec's recursive mv of a folder fails on object stores, which have no folders.
    fs.makedirs(dst, exist_ok=True)
    for path in fs.find(src):
        if not path.endswith(f"/{WHOLE}"):
            fs.mv(path, dst + path[len(src):])
    _remove(fs, src)


def _remove(fs, path: str) -> None:
    if fs.exists(path):
        fs.rm(path, recursive=True)


def partition_mtimes(dest) -> dict[str, float]:
    """For each committed `dt=` partition under the dataset folder `dest`, its newest file's modification time.

    One recursive listing; staging and trash folders are skipped. Times come from the store itself
    (the local file system, S3, GCS or Blob), so two datasets on one store compare fairly.
    """
    fs = dest.fs
    fresh(dest)
    if not fs.exists(dest.path):
        return {}
    newest: dict[str, float] = {}
    for path, info in fs.find(dest.path, detail=True).items():
        part = path[len(dest.path):].lstrip("/").split("/", 1)[0]
        if part.startswith("dt=") and "/_" not in path[len(dest.path):]:
            newest[part[3:]] = max(newest.get(part[3:], 0.0), _mtime(fs, path, info))
    return newest


def _mtime(fs, path: str, info: dict) -> float:
    for key in ("mtime", "LastModified", "last_modified", "updated"):  # local, s3fs, adlfs, gcsfs
        value = info.get(key)
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if isinstance(value, dt.datetime):
            return value.timestamp()
    return fs.modified(path).timestamp()


def fresh(dest) -> None:
    """Forget what the filesystem cached about `dest`: clusters and training jobs write the lake from other
    processes, and an object store's cached listing would still show the files they replaced."""
    invalidate = getattr(dest.fs, "invalidate_cache", None)
    if invalidate is not None:
        invalidate(dest.path)


def _parquet_files(dest) -> list[str]:
    fs = dest.fs
    fresh(dest)
    if not fs.exists(dest.path):
        raise MissingPartition(f"missing partition {dest}: run the step that writes it first")
    files = sorted(p for p in fs.find(dest.path) if p.endswith(".parquet") and "/_" not in p[len(dest.path):])
    if not files:
        raise MissingPartition(f"partition {dest} holds no Parquet file")
    return files


def _each_parquet(dest, read):
    """`read` each Parquet file of a partition from memory: fetching the bytes can fail for a passing reason (the
    store broke off, a timeout, a file replaced meanwhile: StorageError, retried), decoding them only because the
    file is damaged (UnreadableFile: fails at once), whatever exception pyarrow picks for it."""
    for path in _parquet_files(dest):
        where = f"{dest.protocol}://{path}"
        try:
            with dest.fs.open(path, "rb") as fh:
                data = fh.read()
        except Exception as exc:
            raise StorageError(f"could not read {where}: {type(exc).__name__}: {exc}") from exc
        try:
            yield read(io.BytesIO(data))
        except Exception as exc:
            raise UnreadableFile(f"unreadable Parquet file {where}: {type(exc).__name__}: {exc}") from exc


def _read_all(dest, read) -> list:
    """`read` each Parquet file of a partition. A commit that replaced the partition between the listing and
    the reads makes a listed file vanish: list again (the reader then sees the new partition, never a mix)."""
    for attempt in range(3):
        try:
            return list(_each_parquet(dest, read))
        except StorageError as exc:
            if attempt == 2 or not isinstance(exc.__cause__, FileNotFoundError):
                raise
    raise AssertionError("unreachable")


def read_parquet(dest, columns: list[str] | None = None):
    """Read a partition folder (or file) into pandas, naming the path when it is missing or unreadable."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.concat_tables(_read_all(dest, lambda fh: pq.read_table(fh, columns=columns)))
    try:
        return table.to_pandas()
    except (pa.ArrowException, ValueError, LookupError, TypeError) as exc:
        # pyarrow reads what pandas cannot hold: text that is not UTF-8, a damaged pandas schema in the footer
        raise UnreadableFile(f"unreadable Parquet data in {dest}: {type(exc).__name__}: {exc}; "
                             "the file is damaged or was written wrong: land it again") from exc


def parquet_rows(dest) -> int:
    """The row count of a partition from its Parquet footers, without reading the data."""
    import pyarrow.parquet as pq

    def rows(fh) -> int:
        meta = pq.ParquetFile(fh).metadata
        groups = sum(meta.row_group(i).num_rows for i in range(meta.num_row_groups))
        if meta.num_rows < 0 or meta.num_rows != groups:  # a damaged footer can still parse
            raise ValueError(f"the footer says {meta.num_rows} rows, its row groups {groups}")
        return meta.num_rows

    return sum(_read_all(dest, rows))


def partition_digest(dest) -> str:
    """sha256 over a partition's Parquet files (relative name and bytes, in name order): its content identity."""
    import hashlib

    digest = hashlib.sha256()
    for path in _parquet_files(dest):
        digest.update(path[len(dest.path):].lstrip("/").encode() + b"\0")
        try:
            with dest.fs.open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        except OSError as exc:
            raise StorageError(f"unreadable Parquet file {dest.protocol}://{path}: {exc}") from exc
    return digest.hexdigest()
