"""Credentials from AWS Secrets Manager (the amazon provider's secrets backend), against the moto server:
a connection kept as a secret, never in the repo or an environment variable, is what the lake uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SCRIPT = r'''
import os
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.sdk import BaseHook

conn = BaseHook.get_connection("lake_from_secrets")
assert conn.conn_type == "aws" and conn.extra_dejson["endpoint_url"] == os.environ["MOTO"], conn.conn_type
S3Hook(aws_conn_id="lake_from_secrets").load_bytes(b"hello", "from-secrets.txt", os.environ["BUCKET"], replace=True)
print("uploaded with the connection from Secrets Manager")
'''


@pytest.mark.parametrize("prefix", ["airflow/connections"])
def test_a_connection_kept_in_secrets_manager_is_found_by_the_backend_and_works(s3_endpoint, prefix):
    import boto3

    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    bucket = "contrail-secrets-test"
    session.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    canary = "canary-secret-7c1f"  # the connection's password: it must reach S3 signing, never the output
    connection = {"conn_type": "aws", "login": "testing", "password": canary,
                  "extra": {"region_name": "us-east-1", "endpoint_url": s3_endpoint}}
    session.client("secretsmanager", endpoint_url=s3_endpoint).create_secret(
        Name=f"{prefix}/lake_from_secrets", SecretString=json.dumps(connection))
    env = {**os.environ, "MOTO": s3_endpoint, "BUCKET": bucket, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AIRFLOW__SECRETS__BACKEND": "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend",
           "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps({"connections_prefix": prefix, "region_name": "us-east-1",
                                                          "endpoint_url": s3_endpoint})}
    env.pop("AIRFLOW_CONN_LAKE_FROM_SECRETS", None)
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "uploaded with the connection from Secrets Manager" in done.stdout
    assert canary not in done.stdout + done.stderr
    body = session.client("s3", endpoint_url=s3_endpoint).get_object(Bucket=bucket, Key="from-secrets.txt")["Body"].read()
    assert body == b"hello"
