"""How the cloud twins run a job here: local Spark cannot read s3:// or gs:// (their Hadoop connectors are Maven
jars these machines cannot fetch) and no Cloud Storage FUSE mounts /gcs/, so a job runs over a local copy of the
buckets its arguments (and environment) name, and what it changed goes back (new and changed objects up, the ones
it removed deleted). The buckets are reached through the lake's connection (the path layer), as the job would.
Test code, not product code."""

from __future__ import annotations

import hashlib
import importlib
import re
import tempfile
from pathlib import Path

CLOUD = re.compile(r"^(s3|gs|abfss?)://([^/@]+)(?:@[^/]*)?")  # an Azure container names its account after @
FUSE = re.compile(r"^/gcs/([^/]+)")  # Cloud Storage FUSE inside a Vertex AI job: /gcs/<bucket>/<object>


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _fs(scheme: str, bucket: str):
    from contrail import storage
    from contrail.config import profile

    return storage.path(f"{scheme}://{bucket}/", profile().storage_conn_id).fs


def download(scheme: str, bucket: str, folder: Path) -> dict[Path, str]:
    """Every object of the bucket under `folder/<bucket>/`; returns each local file's digest."""
    fs, seen = _fs(scheme, bucket), {}
    for name in fs.find(bucket):
        if name.endswith("/"):
            continue
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(fs.cat_file(name))
        seen[target] = _md5(target)
    return seen


def upload_changed(scheme: str, folder: Path, before: dict[Path, str]) -> list[str]:
    """Mirror what the job did to the local copy back into the buckets; returns the URLs sent."""
    sent = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if before.get(path) != _md5(path):
            name = path.relative_to(folder).as_posix()
            _fs(scheme, name.split("/", 1)[0]).pipe_file(name, path.read_bytes())
            sent.append(f"{scheme}://{name}")
    for path in before:
        if not path.exists():
            name = path.relative_to(folder).as_posix()
            _fs(scheme, name.split("/", 1)[0]).rm_file(name)
    return sent


def on_copy(run, argv: list[str], environ: dict[str, str] | None = None):
    """`run(argv, environ)` over a local copy of the buckets the arguments and environment values name, as
    s3://, gs:// or abfs:// URLs (given as file:// URLs into the copy) or /gcs/ paths (given as paths into it); an
    environment value's URL becomes a path. What it changed goes back; returns what `run` returned."""
    environ = environ or {}
    named = [("abfs" if m.group(1).startswith("abfs") else m.group(1), m.group(2))  # abfss is abfs
             for v in [*argv, *environ.values()] if (m := CLOUD.match(v))]
    named += [("gs", m.group(1)) for v in [*argv, *environ.values()] if (m := FUSE.match(v))]
    with tempfile.TemporaryDirectory(prefix="twin-job-") as tmp:
        folder, before = Path(tmp), {}
        for scheme, bucket in sorted(set(named)):
            before.update(download(scheme, bucket, folder))
        local = [FUSE.sub(lambda m: f"{folder}/{m.group(1)}", CLOUD.sub(lambda m: f"file://{folder}/{m.group(2)}", a))
                 for a in argv]
        env = {k: CLOUD.sub(lambda m: f"{folder}/{m.group(2)}", v) for k, v in environ.items()}
        result = run(local, env)
        schemes = sorted({s for s, _ in named})
        assert len(schemes) <= 1, f"a job over buckets of several clouds ({schemes}): not a twin's case"
        for scheme in schemes:
            upload_changed(scheme, folder, before)
        return result


def run_job(job: str, argv: list[str]) -> None:
    """spark_jobs/<job>.py on the local Spark server over a copy of the buckets its arguments name."""
    from contrail.spark import connect

    on_copy(lambda local, _: importlib.import_module(f"spark_jobs.{job}").main(local, spark=connect.session()), argv)
