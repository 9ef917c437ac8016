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

import sys

from contrail.config import PROJECT_ROOT
from contrail.platforms import code
from contrail.platforms.code import cluster_requirements, job_files


def files() -> dict[str, bytes]:
    """Key under the code URI -> content."""
    return {**job_files(), "bootstrap/dataproc-python.sh": (PROJECT_ROOT / "deploy/gcp/dataproc-python.sh").read_bytes(),
            "bootstrap/requirements-cluster.txt": cluster_requirements().encode()}


SETTING = "CONTRAIL_GCP_CODE_URI"


def upload(code_uri: str, conn_id: str) -> list[str]:
    if not code_uri.startswith("gs://"):
        raise SystemExit(f"--code-uri {code_uri!r}: expected gs://bucket/prefix")
    return code.upload(code_uri, conn_id, files())


def main(argv: list[str] | None = None) -> int:
    args = code.deploy_parser(__doc__, "gs://bucket/prefix", SETTING, "google_cloud_default").parse_args(argv)
    code.report(upload(args.code_uri, args.conn_id), SETTING, args.code_uri)
    return 0


if __name__ == "__main__":
    sys.exit(main())
