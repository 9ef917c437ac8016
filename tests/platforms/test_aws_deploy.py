"""Shipping the code to S3 (the deploy command), the landing zone's Glue converter, and the training image."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
from pathlib import Path

from aws_twin import CODE, LAKE

from contrail import drops, storage
from contrail.platforms.aws import deploy
from contrail.sources.nycflights13 import Nycflights13Source

ROOT = Path(__file__).resolve().parents[2]
DAY = "2013-07-19"


def test_the_cluster_gets_the_locks_pins_of_what_the_executors_import():
    lock = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "requirements.txt").read_text(), re.M))
    lock = {k.lower(): v for k, v in lock.items()}
    pins = dict(line.split("==") for line in deploy.cluster_requirements().splitlines())
    assert pins == {name: lock[name] for name in deploy.CLUSTER_PACKAGES}
    script = (ROOT / "deploy/aws/emr-python.sh").read_text()
    assert "python3.11" in script and "bootstrap/requirements-cluster.txt" in script
    from contrail.platforms.aws import emr

    assert emr.PYTHON == "/usr/bin/python3.11"  # what the bootstrap installs is what the clusters' Spark runs


def test_the_deploy_command_uploads_the_job_files_the_bootstrap_and_the_glue_script(aws):
    prefix = "contrail/test"
    sent = deploy.main(["--code-uri", f"s3://{CODE}/{prefix}", "--conn-id", "aws_test", "--glue-role",
                        "arn:aws:iam::123456789012:role/contrail-glue"])
    assert sent == 0
    keys = {o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=CODE, Prefix=prefix)["Contents"]}
    assert {f"{prefix}/spark_jobs/build_features.py", f"{prefix}/spark_jobs/score_features.py", f"{prefix}/bootstrap/emr-python.sh",
            f"{prefix}/bootstrap/requirements-cluster.txt", f"{prefix}/glue/convert_drops.py"} <= keys
    body = aws.client("s3").get_object(Bucket=CODE, Key=f"{prefix}/spark_jobs/build_features.py")["Body"].read()
    assert body == (ROOT / "spark_jobs/build_features.py").read_bytes()  # the same file the local profile runs
    job = aws.client("glue").get_job(JobName="contrail-convert-drops")["Job"]
    assert job["Command"]["ScriptLocation"] == f"s3://{CODE}/{prefix}/glue/convert_drops.py"
    assert job["Command"]["Name"] == "pythonshell"


def test_a_csv_drop_is_converted_by_the_glue_job_and_landed_from_its_parquet(aws, airflow_db, monkeypatch):
    deploy.main(["--code-uri", f"s3://{CODE}/contrail/test", "--conn-id", "aws_test", "--glue-role",
                 "arn:aws:iam::123456789012:role/contrail-glue"])
    monkeypatch.setenv("CONTRAIL_LANDING_URL", f"s3://{LAKE}/landing")
    monkeypatch.setenv("CONTRAIL_LANDING_CONVERTER", "glue")
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])  # the converter is chosen when the DAG parses
    s3, rows = aws.client("s3"), {}
    source = Nycflights13Source()
    for table, frame in (("flights", source.flights(dt.date.fromisoformat(DAY))), ("weather", source.weather(dt.date.fromisoformat(DAY)))):
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False)
        s3.put_object(Bucket=LAKE, Key=f"landing/{table}/dt={DAY}/part-0.csv", Body=buffer.getvalue().encode())
        rows[table] = len(frame)
    s3.put_object(Bucket=LAKE, Key=f"landing/_ready/{DAY}.json", Body=b"{}")
    dag = bag.get_dag("contrail_landing")
    assert dag.get_task("convert_drops").operator_name == "GlueJobOperator"
    for task in dag.tasks:
        task.retries = 0
    run = dag.test()
    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
    (glue_run,) = aws.client("glue").get_job_runs(JobName="contrail-convert-drops")["JobRuns"][-1:]
    assert glue_run["Arguments"]["--landing_url"] == f"s3://{LAKE}/landing"
    for table in ("flights", "weather"):
        assert storage.parquet_rows(storage.location(f"raw/{table}/dt={DAY}")) == rows[table]
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=LAKE, Prefix="landing/")["Contents"]}
    assert f"landing/_done/{DAY}.json" in listed and not any("_converted" in k for k in listed)
    assert f"landing/flights/dt={DAY}/part-0.csv" in listed  # the drop itself stays as it came
    assert drops.land_ready() == []


def test_the_training_image_runs_the_same_job_as_the_local_profile():
    text = (ROOT / "Dockerfile.training").read_text()
    assert re.search(r"^FROM \$\{PYTHON_IMAGE\}", text, re.M) and "python:3.11-slim" in text
    assert re.search(r"uv pip install --system .*-r requirements\.txt", text)
    assert 'ENTRYPOINT ["python", "-m", "contrail.training.job"]' in text and 'CMD ["train"]' in text
    from contrail.training import job

    assert job.SAGEMAKER == Path("/opt/ml")  # `train` reads SageMaker's layout, which tests/aws_twin.py plays
