"""Ship the code the Google Cloud steps run: `python -m contrail.platforms.gcp.deploy --code-uri gs://BUCKET/PREFIX`.

Uploads, under the code URI (set it as CONTRAIL_GCP_CODE_URI):

    spark_jobs/*.py                      the job files every Dataproc job and Serverless batch runs, as they are
    bootstrap/dataproc-python.sh         the clusters' initialization action: the executors' libraries
    bootstrap/requirements-cluster.txt   those libraries, pinned to the versions of requirements.txt (the lock)

Why an initialization action for clusters: they are ephemeral and the action installs the same pins
on every node in a minute. Dataproc Serverless has none; its batches run in a custom container image
(CONTRAIL_DATAPROC_CONTAINER_IMAGE) built from requirements-cluster.txt on Dataproc's base image (not
buildable here: no Docker engine). The training image is Dockerfile.training, pushed to Artifact
Registry (CONTRAIL_VERTEX_TRAINING_IMAGE).
"""

from __future__ import annotations

import argparse
import sys

from contrail.config import PROJECT_ROOT
from contrail.platforms.code import cluster_requirements, job_files


def files() -> dict[str, bytes]:
    """Key under the code URI -> content."""
    return {**job_files(), "bootstrap/dataproc-python.sh": (PROJECT_ROOT / "deploy/gcp/dataproc-python.sh").read_bytes(),
            "bootstrap/requirements-cluster.txt": cluster_requirements().encode()}


def upload(code_uri: str, conn_id: str) -> list[str]:
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    if not code_uri.startswith("gs://"):
        raise SystemExit(f"--code-uri {code_uri!r}: expected gs://bucket/prefix")
    bucket, _, prefix = code_uri[5:].rstrip("/").partition("/")
    hook = GCSHook(gcp_conn_id=conn_id)
    sent = []
    for key, body in files().items():
        name = f"{prefix}/{key}".lstrip("/")
        hook.upload(bucket, name, data=body)
        sent.append(f"gs://{bucket}/{name}")
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code-uri", required=True, help="gs://bucket/prefix (becomes CONTRAIL_GCP_CODE_URI)")
    parser.add_argument("--conn-id", default="google_cloud_default", help="the Airflow connection to upload with")
    args = parser.parse_args(argv)
    for uri in upload(args.code_uri, args.conn_id):
        print(f"uploaded {uri}")
    print(f"set CONTRAIL_GCP_CODE_URI={args.code_uri.rstrip('/')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
