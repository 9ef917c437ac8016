"""The cloud's side of the aws profile's tests: moto (in this process) plus players for the work moto
only records. Test code, not product code.

moto keeps EMR steps RUNNING forever and marks SageMaker jobs Completed without running anything.
The twin plays them the way the cloud would: a step's job file runs on the local Spark server over
a local copy of the bucket (local Spark cannot read s3://), and what it wrote goes back to the
bucket; a training job runs the training image's entry point (`contrail.training.job train`) in a
folder laid out like /opt/ml, and its model.tar.gz goes where SageMaker puts it. Then the step or job
moves to COMPLETED (or FAILED, with a log the platform must show), and the DAG's next task reads real
outputs from the bucket.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import re
import tarfile
import tempfile
import threading
import time
import traceback
from pathlib import Path

import lake_copy

ACCOUNT, REGION = "123456789012", "us-east-1"
LAKE, CODE = "contrail-aws-lake", "contrail-aws-code"
SAGEMAKER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/contrail-sagemaker"
MODEL = "aws_delay"


def environment(endpoint: str) -> dict[str, str]:
    conn = {"conn_type": "aws", "login": "testing", "password": "testing",
            "extra": {"region_name": "us-east-1", "endpoint_url": endpoint, "config_kwargs": {"retries": {"max_attempts": 1}}}}
    return {"CONTRAIL_PROFILE": "aws", "CONTRAIL_DATA_ROOT": f"s3://{LAKE}/contrail", "CONTRAIL_AWS_CONN_ID": "aws_test",
            "AIRFLOW_CONN_AWS_TEST": json.dumps(conn), "CONTRAIL_AWS_CODE_URI": f"s3://{CODE}/contrail/test",
            "CONTRAIL_SAGEMAKER_ROLE": SAGEMAKER_ROLE,
            "CONTRAIL_SAGEMAKER_TRAINING_IMAGE": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/contrail-training:test",
            "CONTRAIL_SAGEMAKER_SERVING_IMAGE": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/mlflow-pyfunc:3.17.2",
            "CONTRAIL_AWS_POLL_S": "1", "CONTRAIL_MODEL_NAME": MODEL}


class Twin:
    def __init__(self, endpoint: str):
        import boto3

        self.endpoint = endpoint
        self.session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
        self.fail_steps = False  # the next steps fail, with a stderr log in the cluster's LogUri
        self.fail_jobs = False  # the next training jobs fail, with a CloudWatch log
        self.held: set[str] = set()  # clusters whose steps stay as they are (never played)
        self.played: list[str] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._jobs: list = []
        self._thread = threading.Thread(target=self._loop, name="aws-twin", daemon=True)

    def client(self, service: str):
        return self.session.client(service, endpoint_url=self.endpoint)

    # ---- moto's in-process backends --------------------------------------------------------------

    @staticmethod
    def emr():
        from moto.emr.models import emr_backends

        return emr_backends[ACCOUNT][REGION]

    @staticmethod
    def sagemaker():
        from moto.sagemaker.models import sagemaker_backends

        return sagemaker_backends[ACCOUNT][REGION]

    @staticmethod
    def runtime():
        from moto.sagemakerruntime.models import sagemakerruntime_backends

        return sagemakerruntime_backends[ACCOUNT][REGION]

    # ---- lifecycle ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def running(self):
        """Play steps and jobs while the block runs: SageMaker jobs are held InProgress until played."""
        from moto.sagemaker.models import SageMakerModelBackend

        original = SageMakerModelBackend.create_training_job
        original_tuning = SageMakerModelBackend.create_hyper_parameter_tuning_job
        twin = self

        def create_training_job(backend, *args, **kwargs):
            job = original(backend, *args, **kwargs)
            job.training_job_status, job.secondary_status = "InProgress", "Training"
            twin._jobs.append(("training", job))
            return job

        def create_tuning_job(backend, *args, **kwargs):
            arn = original_tuning(backend, *args, **kwargs)
            job = next(j for j in backend.hyper_parameter_tuning_jobs.values() if j.arn == arn)
            job.hyper_parameter_tuning_job_status = "InProgress"
            twin._jobs.append(("tuning", job))
            return arn

        from moto.emrserverless.models import EMRServerlessBackend
        from moto.glue.models import GlueBackend

        original_glue = GlueBackend.start_job_run
        original_serverless = EMRServerlessBackend.start_job_run

        def start_serverless_job(backend, *args, **kwargs):
            run = original_serverless(backend, *args, **kwargs)
            driver = kwargs.get("job_driver") or args[3]
            job = Path(driver["sparkSubmit"]["entryPoint"]).stem
            if twin.fail_steps:
                run.state, run.state_details = "FAILED", "the driver lost its executors (played by the test's twin)"
            else:
                twin._run_job(job, list(driver["sparkSubmit"].get("entryPointArguments", [])))
            return run

        def start_job_run(backend, name, arguments, *args, **kwargs):
            twin._play_glue(backend.get_job(name), arguments or {})
            return original_glue(backend, name, arguments, *args, **kwargs)

        original_transform = SageMakerModelBackend.create_transform_job

        def create_transform_job(backend, *args, **kwargs):
            job = original_transform(backend, *args, **kwargs)
            twin._play_transform(backend, job)
            return job

        SageMakerModelBackend.create_training_job = create_training_job
        SageMakerModelBackend.create_hyper_parameter_tuning_job = create_tuning_job
        SageMakerModelBackend.create_transform_job = create_transform_job
        GlueBackend.start_job_run = start_job_run
        EMRServerlessBackend.start_job_run = start_serverless_job
        # moto lives for the session: what earlier tests left is not this twin's to play
        self.played = [step.id for cluster in self.emr().clusters.values() for step in cluster.steps]
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(60)
            SageMakerModelBackend.create_training_job = original
            SageMakerModelBackend.create_hyper_parameter_tuning_job = original_tuning
            SageMakerModelBackend.create_transform_job = original_transform
            GlueBackend.start_job_run = original_glue
            EMRServerlessBackend.start_job_run = original_serverless

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._play_pending()
            except BaseException:  # noqa: BLE001  (a job's SystemExit too: reported through self.errors)
                self.errors.append(traceback.format_exc())
            time.sleep(0.3)

    def _play_pending(self) -> None:
        for cluster in list(self.emr().clusters.values()):
            for step in list(cluster.steps if cluster.id not in self.held else []):
                if step.state in ("PENDING", "RUNNING") and step.id not in self.played:
                    self.played.append(step.id)
                    self._play_step(cluster, step)
        while self._jobs:
            kind, job = self._jobs.pop(0)
            if kind == "training":
                self._play_training(job)
            else:
                self._play_tuning(job)

    # ---- EMR ---------------------------------------------------------------------------------

    def _play_step(self, cluster, step) -> None:
        args = list(step.args)
        script = next(i for i, a in enumerate(args) if re.search(r"spark_jobs/\w+\.py$", a))
        job, argv = Path(args[script]).stem, args[script + 1:]
        if self.fail_steps:
            self._step_log(cluster, step, "Traceback (most recent call last):\n  File \"build_features.py\"\n"
                                          "RuntimeError: the executors lost their shuffle files (played by the test's cluster twin)\n")
            step.state = "FAILED"
            return
        self._run_job(job, argv)
        step.state = "COMPLETED"

    def _run_job(self, job: str, argv: list[str]) -> None:
        lake_copy.run_job(job, argv)

    def _step_log(self, cluster, step, text: str) -> None:
        uri = cluster.log_uri.replace("s3n://", "s3://").rstrip("/")
        bucket, _, prefix = uri[5:].partition("/")
        key = f"{prefix}/{cluster.id}/steps/{step.id}/stderr.gz".lstrip("/")
        self.client("s3").put_object(Bucket=bucket, Key=key, Body=gzip.compress(text.encode()))

    # ---- SageMaker ---------------------------------------------------------------------------

    def _play_training(self, job) -> str | None:
        """Run the training image's entry point on the job's channel; returns the printed objective."""
        from contrail.training import job as training_job

        s3 = self.client("s3")
        channel = job.input_data_config[0]["DataSource"]["S3DataSource"]
        bucket, _, key = channel["S3Uri"][5:].partition("/")
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        prefix = manifest[0]["prefix"]
        with tempfile.TemporaryDirectory(prefix="twin-sagemaker-") as tmp:
            root = Path(tmp)
            for relative in manifest[1:]:
                source = prefix + relative
                b, _, k = source[5:].partition("/")
                target = root / "input/data/features" / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(s3.get_object(Bucket=b, Key=k)["Body"].read())
            (root / "input/config").mkdir(parents=True)
            (root / "input/config/hyperparameters.json").write_text(json.dumps(job.hyper_parameters))
            out = io.StringIO()
            try:
                if self.fail_jobs:
                    (root / "input/data/features").rename(root / "input/data/missing")  # the channel came up empty
                with contextlib.redirect_stdout(out):
                    training_job.sagemaker_main(root)
            except Exception:  # noqa: BLE001  (the job's failure is the cloud's to report)
                reason = (root / "output/failure").read_text() if (root / "output/failure").exists() else "unknown"
                self._job_log(job.training_job_name, traceback.format_exc())
                job.training_job_status, job.failure_reason = "Failed", reason
                return None
            archive = io.BytesIO()
            with tarfile.open(fileobj=archive, mode="w:gz") as tar:
                for path in sorted((root / "model").rglob("*")):
                    tar.add(path, arcname=str(path.relative_to(root / "model")), recursive=False)
            b, _, k = job.model_artifacts["S3ModelArtifacts"][5:].partition("/")
            s3.put_object(Bucket=b, Key=k, Body=archive.getvalue())
        self._job_log(job.training_job_name, out.getvalue())
        job.training_job_status = job.secondary_status = "Completed"
        found = re.search(r"validation:roc_auc=([0-9.]+)", out.getvalue())
        return found.group(1) if found else None

    def _job_log(self, name: str, text: str) -> None:
        logs, group = self.client("logs"), "/aws/sagemaker/TrainingJobs"
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=group)
        stream = f"{name}/algo-1-1700000000"
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        events = [{"timestamp": int(time.time() * 1000), "message": line} for line in text.splitlines() if line.strip()]
        if events:
            logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)

    def _play_tuning(self, tuning) -> None:
        """Two trials of the search space (its midpoints, then its lows), each a real training job; the best
        by the objective becomes the tuning job's BestTrainingJob."""
        definition = tuning.training_job_definition
        ranges = definition and tuning.hyper_parameter_tuning_job_config["ParameterRanges"]
        trials = []
        for number, pick in enumerate((lambda lo, hi: (lo + hi) / 2, lambda lo, hi: lo)):
            tuned = {r["Name"]: str(pick(float(r["MinValue"]), float(r["MaxValue"])))
                     for kind in ("IntegerParameterRanges", "ContinuousParameterRanges") for r in ranges.get(kind, [])}
            name = f"{tuning.hyper_parameter_tuning_job_name}-{number:03d}"
            self.client("sagemaker").create_training_job(
                TrainingJobName=name, HyperParameters={**definition["StaticHyperParameters"], **tuned},
                AlgorithmSpecification=definition["AlgorithmSpecification"], RoleArn=definition["RoleArn"],
                InputDataConfig=definition["InputDataConfig"], OutputDataConfig=definition["OutputDataConfig"],
                ResourceConfig=definition["ResourceConfig"], StoppingCondition=definition["StoppingCondition"])
            kind, job = self._jobs.pop(0)
            objective = self._play_training(job)
            trials.append((float(objective or 0), name, tuned))
        best = max(trials)
        tuning.best_training_job = {**tuning.best_training_job, "TrainingJobName": best[1], "TunedHyperParameters": best[2],
                                    "FinalHyperParameterTuningJobObjectiveMetric": {
                                        "Type": "Maximize", "MetricName": "validation:roc_auc", "Value": best[0]}}
        tuning.hyper_parameter_tuning_job_status = "Completed"

    def _play_transform(self, backend, job) -> None:
        """The MLflow serving container over each input file: its model archive loaded as pyfunc, one JSON answer a file."""
        import mlflow

        s3 = self.client("s3")
        model = backend.describe_model(job.model_name)
        bucket, _, key = model.primary_container["ModelDataUrl"][5:].partition("/")
        source = job.transform_input["DataSource"]["S3DataSource"]["S3Uri"][5:]
        out_bucket, _, out_prefix = job.transform_output["S3OutputPath"][5:].partition("/")
        with tempfile.TemporaryDirectory(prefix="twin-transform-") as tmp:
            with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
                tar.extractall(Path(tmp) / "model", filter="data")
            loaded = mlflow.pyfunc.load_model(str(Path(tmp) / "model"))
            in_bucket, _, in_prefix = source.partition("/")
            for obj in s3.list_objects_v2(Bucket=in_bucket, Prefix=in_prefix).get("Contents", []):
                import pandas as pd

                frame = pd.read_csv(io.BytesIO(s3.get_object(Bucket=in_bucket, Key=obj["Key"])["Body"].read()))
                answer = loaded.predict(frame)
                answer = answer.tolist() if hasattr(answer, "tolist") else list(answer)
                name = obj["Key"].rsplit("/", 1)[-1]
                s3.put_object(Bucket=out_bucket, Key=f"{out_prefix.rstrip('/')}/{name}.out",
                              Body=json.dumps({"predictions": answer}).encode())

    # ---- Glue --------------------------------------------------------------------------------

    def _play_glue(self, job, arguments: dict) -> None:
        """Run the Glue job's script, as it was uploaded to its ScriptLocation, before moto records the run."""
        import importlib.util

        bucket, _, key = job.command["ScriptLocation"][5:].partition("/")
        with tempfile.TemporaryDirectory(prefix="twin-glue-") as tmp:
            script = Path(tmp) / "job.py"
            script.write_bytes(self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
            spec = importlib.util.spec_from_file_location("glue_job", script)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            argv = [item for pair in arguments.items() for item in pair]
            module.main(argv, storage_options={"key": "testing", "secret": "testing",
                                               "client_kwargs": {"endpoint_url": self.endpoint, "region_name": REGION}})

    def answer_invocations(self, *bodies: str) -> None:
        """Queue what the endpoint answers to the next invocations (moto answers static text otherwise)."""
        for body in bodies:
            self.runtime().results_queue.append((body, "application/json", "champion", ""))

    def invocations(self) -> list[dict]:
        """The request bodies endpoints received, parsed (moto files them all under no endpoint name)."""
        import base64

        return [json.loads(json.loads(base64.b64decode(key))["Body"])
                for per_endpoint in self.runtime().results.values() for key in per_endpoint]


def run_task(operator, request, context):
    """Execute a CloudOperator the way a task try does (on its own copy), with the request its plan gave it."""
    operator = operator.prepare_for_execution()
    operator.request = request
    return operator.execute(context)


class TryContext(dict):
    """A task try's context: what the operators read of it (its XCom pushes are kept for the test)."""

    def __init__(self, task_id: str = "submit_job", dag_id: str = "contrail_test", run_id: str = "manual__try"):
        import types

        class Ti:
            pushed = {}

            def xcom_push(self, key, value):
                self.pushed[key] = value

        ti = Ti()
        ti.task_id, ti.dag_id, ti.run_id = task_id, dag_id, run_id
        super().__init__(ti=ti, dag_run=types.SimpleNamespace(dag_id=dag_id, run_id=run_id))
