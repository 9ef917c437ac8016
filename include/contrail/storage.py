"""One path layer over ObjectStoragePath: the same code writes to a folder, S3, GCS or Azure Blob."""

from __future__ import annotations

import datetime as dt
import functools
import io
import uuid
from urllib.parse import urlparse

from contrail.config import ConfigError, Profile, profile as active_profile

KNOWN_SCHEMES = {"file", "s3", "gs", "gcs", "abfs", "abfss", "az", "wasb", "wasbs", "memory"}
PART_FILE = "part-00000.parquet"


class StorageError(RuntimeError):
    """Reading or writing the lake failed; the message names the path."""


def check_url(url: str) -> str:
    """Refuse a data-root URL that no backend can serve, naming it and the accepted forms."""
    parsed = urlparse(url)
    if parsed.scheme not in KNOWN_SCHEMES or not (parsed.netloc or parsed.path.strip("/")):
        raise ConfigError(
            f"bad storage URL {url!r} (CONTRAIL_DATA_ROOT): expected file:///abs/dir, s3://bucket/prefix, "
            "gs://bucket/prefix or abfs://container@account.dfs.core.windows.net/prefix"
        )
    return url.rstrip("/")


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
    """Call `write(staging)` to fill a sibling staging folder, then swap it in for `dest` file by file.

    Any writer can fill the staging folder (pyarrow here, Spark in the quality gate); on failure the
    old partition is put back and the staging folder removed.
    """
    fs, parent = dest.fs, dest.parent
    tag = uuid.uuid4().hex[:12]
    staging = parent / f"_staging-{dest.name}-{tag}"
    trash = parent / f"_trash-{dest.name}-{tag}"
    try:
        sweep_leftovers(dest)
        write(staging)
        had_old = fs.exists(dest.path)
        if had_old:
            _move_files(fs, dest.path, trash.path)
        try:
            _move_files(fs, staging.path, dest.path)
        except Exception:
            if had_old:
                _move_files(fs, trash.path, dest.path)
            raise
        if had_old:
            _remove(fs, trash.path)
    except Exception as exc:
        _remove(fs, staging.path)
        raise StorageError(f"could not write {dest}: {type(exc).__name__}: {exc}") from exc


def remove_partition(dest) -> None:
    """Delete a partition folder if it exists (a derived partition that must no longer be read)."""
    _remove(dest.fs, dest.path)


def sweep_leftovers(dest) -> None:
    """Delete staging folders that a killed earlier attempt at `dest` left behind."""
    fs = dest.fs
    pattern = f"{dest.parent.path}/_staging-{dest.name}-*"
    for path in fs.glob(pattern):
        _remove(fs, path)


def _move_files(fs, src: str, dst: str) -> None:
    # File by file: fsspec's recursive mv of a folder fails on object stores, which have no folders.
    fs.makedirs(dst, exist_ok=True)
    for path in fs.find(src):
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
        raise StorageError(f"missing partition {dest}: run the step that writes it first")
    files = sorted(p for p in fs.find(dest.path) if p.endswith(".parquet") and "/_" not in p[len(dest.path):])
    if not files:
        raise StorageError(f"partition {dest} holds no Parquet file")
    return files


def _each_parquet(dest, read):
    for path in _parquet_files(dest):
        try:
            with dest.fs.open(path, "rb") as fh:
                yield read(fh)
        except Exception as exc:
            raise StorageError(f"unreadable Parquet file {dest.protocol}://{path}: {type(exc).__name__}: {exc}") from exc


def read_parquet(dest, columns: list[str] | None = None):
    """Read a partition folder (or file) into pandas, naming the path when it is missing or unreadable."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pa.concat_tables(list(_each_parquet(dest, lambda fh: pq.read_table(fh, columns=columns)))).to_pandas()


def parquet_rows(dest) -> int:
    """The row count of a partition from its Parquet footers, without reading the data."""
    import pyarrow.parquet as pq

    return sum(_each_parquet(dest, lambda fh: pq.ParquetFile(fh).metadata.num_rows))


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
