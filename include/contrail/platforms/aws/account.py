"""The AWS account a step runs in: its connection and region, and the checks a plan makes before it
starts anything, so a missing connection, bucket or role fails the first task that needs it, naming
the setting, and no cluster or job is left behind.
"""

from __future__ import annotations

from contrail.config import ConfigError
from contrail.platforms.settings import Settings


def connection(s: Settings) -> dict:
    """{"aws_conn_id", "region_name"} for every operator of the step; the connection must exist."""
    from contrail.platforms.settings import connection as airflow_connection

    conn_id = s.need("conn_id")
    conn = airflow_connection(conn_id, "CONTRAIL_AWS_CONN_ID", f"Secrets Manager secret airflow/connections/{conn_id}")
    region = s.get("region") or conn.extra_dejson.get("region_name")
    if not region:
        raise ConfigError(f"no AWS region: set CONTRAIL_AWS_REGION or region_name in the extra of connection {conn_id!r}")
    return {"aws_conn_id": conn_id, "region_name": region}


def client(conn: dict, service: str):
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return AwsBaseHook(aws_conn_id=conn["aws_conn_id"], client_type=service, region_name=conn["region_name"]).get_conn()


def require_bucket(uri: str, setting: str, conn: dict) -> None:
    """The bucket of `uri` exists and the connection can reach it."""
    from botocore.exceptions import ClientError

    if not uri.startswith(("s3://", "s3a://")):
        raise ConfigError(f"{setting}={uri!r}: expected an s3:// URI")
    bucket = uri.split("://", 1)[1].split("/", 1)[0]
    try:
        client(conn, "s3").head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        raise ConfigError(f"{setting} names bucket {bucket!r}, which connection {conn['aws_conn_id']!r} cannot reach "
                          f"({code}): create it or fix {setting}") from None


def require_role(role: str, setting: str, conn: dict, instance_profile: bool = False) -> None:
    """The IAM role (or instance profile) exists; an ARN or a bare name."""
    from botocore.exceptions import ClientError

    name = role.rsplit("/", 1)[-1]
    iam = client(conn, "iam")
    try:
        if instance_profile:
            iam.get_instance_profile(InstanceProfileName=name)
        else:
            iam.get_role(RoleName=name)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        kind = "instance profile" if instance_profile else "role"
        raise ConfigError(f"{setting}={role!r}: no such IAM {kind} ({code}); create it from deploy/aws/iam/ "
                          f"or fix {setting}") from None


def lake_root() -> str:
    from contrail.config import profile

    return profile().data_root.rstrip("/")
