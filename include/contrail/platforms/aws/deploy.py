"""Ship the code the AWS steps run: `python -m contrail.platforms.aws.deploy --code-uri s3://BUCKET/PREFIX`.

Uploads, under the code URI (set it as CONTRAIL_AWS_CODE_URI):

    spark_jobs/*.py                      the job files every EMR step and serverless job runs, as they are
    bootstrap/emr-python.sh              the clusters' bootstrap action: Python 3.11 and the executors' libraries
    bootstrap/requirements-cluster.txt   those libraries, pinned to the versions of requirements.txt (the lock)
    glue/convert_drops.py                the Glue job of CONTRAIL_LANDING_CONVERTER=glue (--glue-role creates it)
    pyspark_env.tar.gz                   (--serverless-archive) the packed environment EMR Serverless jobs unpack

Why a bootstrap action for EMR on EC2: the clusters are ephemeral and the action installs the same
pins on every node in a minute. EMR Serverless has no bootstrap actions; it gets the environment
as an archive (`spark.archives`), which must be built on Amazon Linux 2023 for its Python and glibc:
`docker run --rm -v $PWD:/out amazonlinux:2023 sh -c "dnf install -y python3.11 && python3.11 -m venv /env &&
/env/bin/pip install venv-pack -r /out/requirements-cluster.txt && /env/bin/venv-pack -p /env -o /out/pyspark_env.tar.gz"`
(not runnable here: no Docker engine). The training image is Dockerfile.training, pushed to ECR
(CONTRAIL_SAGEMAKER_TRAINING_IMAGE).
"""

from __future__ import annotations

import sys
from pathlib import Path

from contrail.config import PROJECT_ROOT
from contrail.platforms import code
from contrail.platforms.code import CLUSTER_PACKAGES, cluster_requirements, job_files  # noqa: F401  (the pins every cloud's executors get)


def files(serverless_archive: Path | None = None) -> dict[str, bytes]:
    """Key under the code URI -> content."""
    out = job_files()
    out["bootstrap/emr-python.sh"] = (PROJECT_ROOT / "deploy/aws/emr-python.sh").read_bytes()
    out["bootstrap/requirements-cluster.txt"] = cluster_requirements().encode()
    out["glue/convert_drops.py"] = (PROJECT_ROOT / "deploy/aws/glue_convert_drops.py").read_bytes()
    if serverless_archive:
        out["pyspark_env.tar.gz"] = serverless_archive.read_bytes()
    return out


def glue_job_request(code_uri: str, role: str, name: str = "contrail-convert-drops") -> dict:
    """create_job's request of the landing converter: a Python shell job running glue/convert_drops.py."""
    return {"Name": name, "Role": role, "GlueVersion": "3.0", "MaxCapacity": 0.0625,
            "Command": {"Name": "pythonshell", "PythonVersion": "3.9", "ScriptLocation": f"{code_uri.rstrip('/')}/glue/convert_drops.py"},
            "DefaultArguments": {"--additional-python-modules": "s3fs", "library-set": "analytics"},
            "Tags": {"contrail:step": "convert_drops"}}


def create_glue_job(code_uri: str, role: str, conn_id: str) -> str:
    """Create the converter's Glue job, or update it when its script or role changed. This is the deploying
    person's call (the Airflow role only starts the job), so it goes through the connection's plain session."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    hook = AwsBaseHook(aws_conn_id=conn_id, client_type="glue")
    glue = hook.get_session().client("glue", endpoint_url=hook.conn_config.endpoint_url)
    request = glue_job_request(code_uri, role)
    try:
        current = glue.get_job(JobName=request["Name"])["Job"]
    except glue.exceptions.EntityNotFoundException:
        glue.create_job(**request)
        return request["Name"]
    if (current["Command"].get("ScriptLocation"), current["Role"]) != (request["Command"]["ScriptLocation"], role):
        glue.update_job(JobName=request["Name"], JobUpdate={k: v for k, v in request.items() if k not in ("Name", "Tags")})
    return request["Name"]


SETTING = "CONTRAIL_AWS_CODE_URI"


def upload(code_uri: str, conn_id: str, serverless_archive: Path | None = None) -> list[str]:
    if not code_uri.startswith("s3://"):
        raise SystemExit(f"--code-uri {code_uri!r}: expected s3://bucket/prefix")
    return code.upload(code_uri, conn_id, files(serverless_archive))


def main(argv: list[str] | None = None) -> int:
    parser = code.deploy_parser(__doc__, "s3://bucket/prefix", SETTING, "aws_default")
    parser.add_argument("--serverless-archive", type=Path, help="a packed environment for EMR Serverless (see above)")
    parser.add_argument("--glue-role", help="create (or update) the landing converter's Glue job with this role")
    args = parser.parse_args(argv)
    sent = upload(args.code_uri, args.conn_id, args.serverless_archive)
    if args.glue_role:
        print(f"Glue job {create_glue_job(args.code_uri, args.glue_role, args.conn_id)} ready (CONTRAIL_LANDING_CONVERTER=glue)")
    code.report(sent, SETTING, args.code_uri)
    return 0


if __name__ == "__main__":
    sys.exit(main())
