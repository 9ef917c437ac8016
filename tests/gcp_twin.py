"""The cloud's side of the gcp profile's tests: the GCS emulator for the lake and the code bucket, the Dataproc
peer (tests/dataproc_peer.py) for clusters, jobs and batches, and a player that does what a Dataproc job would.
Test code, not product code.

A Vertex AI custom job is played the way its container would run: the training image's command
(`python -m contrail.training.job`, checked) with the job's arguments, its /gcs/ FUSE paths on a local copy of the
bucket and AIP_MODEL_DIR under the job's base output directory; a tuning job runs two trials of the search space
(its midpoints, then its lows), each with its parameters as flags and its own output folder, and reports their
metrics as the trials Vertex AI would. A Dataproc job or batch is played the way the cluster would run it: its main file must be in the code bucket (uploaded
by the deploy command, as a user does), and the same job file runs on the local Spark server over a local copy
of the buckets its arguments name (tests/lake_copy.py); the job ends DONE, and the DAG's next task reads real
outputs from the bucket. With `fail_jobs` set the job ends in ERROR, with a driver output in the bucket that
the platform must show.
"""

from __future__ import annotations

import threading
from pathlib import Path

import lake_copy

PROJECT, REGION = "contrail-test", "europe-west1"
LAKE, CODE = "contrail-gcp-lake", "contrail-gcp-code"
CONN = "gcp_test"
CODE_URI = f"gs://{CODE}/contrail/test"
DATAPROC_SA = f"contrail-dataproc@{PROJECT}.iam.gserviceaccount.com"
VERTEX_SA = f"contrail-vertex@{PROJECT}.iam.gserviceaccount.com"
MODEL = "gcp_delay"


def environment() -> dict[str, str]:
    """The gcp profile's settings of the tests (the connection and the emulator's address come from the fixtures)."""
    registry = f"{REGION}-docker.pkg.dev/{PROJECT}/contrail"
    return {"CONTRAIL_PROFILE": "gcp", "CONTRAIL_DATA_ROOT": f"gs://{LAKE}/contrail", "CONTRAIL_GCP_CONN_ID": CONN,
            "CONTRAIL_GCP_PROJECT": PROJECT, "CONTRAIL_GCP_REGION": REGION, "CONTRAIL_GCP_CODE_URI": CODE_URI,
            "CONTRAIL_DATAPROC_SERVICE_ACCOUNT": DATAPROC_SA, "CONTRAIL_VERTEX_SERVICE_ACCOUNT": VERTEX_SA,
            "CONTRAIL_VERTEX_TRAINING_IMAGE": f"{registry}/contrail-training:test",
            "CONTRAIL_VERTEX_SERVING_IMAGE": f"{registry}/mlflow-pyfunc:3.17.2",
            "CONTRAIL_GCP_POLL_S": "1", "CONTRAIL_MODEL_NAME": MODEL}


class Twin:
    def __init__(self):
        self.fail_jobs = False  # the next jobs and batches fail, with a driver output in the lake bucket
        self.fail_training = False  # the next Vertex AI jobs fail (their channel comes up empty)
        self.held: set[str] = set()  # display names of Vertex AI jobs that keep running until `release` is set
        self.release = threading.Event()
        self.played: list[tuple[str, list[str]]] = []  # (job file URI, args) of every job and batch played

    def hook(self):
        from airflow.providers.google.cloud.hooks.gcs import GCSHook

        return GCSHook(gcp_conn_id=CONN)

    def player(self, resource):
        """The DataprocPeer's player: a Job (pyspark_job) or a Batch (pyspark_batch) run as the cloud would."""
        from google.cloud import dataproc_v1 as dp

        spec = resource.pyspark_job if isinstance(resource, dp.Job) else resource.pyspark_batch
        main, args = spec.main_python_file_uri, list(spec.args)
        ident = resource.reference.job_id if isinstance(resource, dp.Job) else resource.name.rsplit("/", 1)[-1]
        ok, failed = ("DONE", "ERROR") if isinstance(resource, dp.Job) else ("SUCCEEDED", "FAILED")
        self.played.append((main, args))
        bucket, _, name = main[len("gs://"):].partition("/")
        if not self.hook().exists(bucket_name=bucket, object_name=name):
            return failed, f"Google Cloud Storage object does not exist: {main}"
        if self.fail_jobs:
            output = f"gs://{LAKE}/dataproc-output/{ident}/driveroutput"
            self.hook().upload(bucket_name=LAKE, object_name=f"dataproc-output/{ident}/driveroutput.000000000",
                               data=b"Traceback (most recent call last):\n  File \"build_features.py\"\n"
                                    b"RuntimeError: the executors lost their shuffle files (played by the test's twin)\n")
            return failed, "Job failed with message [RuntimeError: the executors lost their shuffle files]", output
        try:
            lake_copy.run_job(Path(main).stem, args)
        except SystemExit as exit_:  # the job's own exit (bad arguments): a failed job, as the cluster reports it
            return failed, f"Job failed: the driver exited with status {exit_.code}"
        return ok

    def vertex_player(self, job):
        """The VertexPeer's player: a CustomJob or a HyperparameterTuningJob run as Vertex AI would."""
        if job.display_name in self.held:
            self.release.wait(120)
            return "CANCELLED"
        try:
            return self._play_vertex(job)
        except (Exception, SystemExit) as exc:  # noqa: BLE001  (the job's failure is Vertex AI's to report)
            return "FAILED", f"The replica workerpool0-0 exited with a non-zero status: {type(exc).__name__}: {exc}"

    def _play_vertex(self, job):
        from google.cloud import aiplatform_v1 as v1

        from contrail.platforms.gcp import vertex

        if isinstance(job, v1.CustomJob):
            spec = job.job_spec
            self._train(spec.worker_pool_specs[0].container_spec, {
                "AIP_MODEL_DIR": spec.base_output_directory.output_uri_prefix.rstrip("/") + "/model/"})
            return "SUCCEEDED"
        trial_spec, trials = job.trial_job_spec, []
        for number, pick in enumerate((lambda lo, hi: (lo + hi) / 2, lambda lo, hi: lo), start=1):
            params = {}
            for p in job.study_spec.parameters:
                values = p.double_value_spec if p.double_value_spec.max_value else p.integer_value_spec
                value = pick(float(values.min_value), float(values.max_value))
                params[p.parameter_id] = round(value) if p.integer_value_spec.max_value else value
            flags = [f"--{name}={value}" for name, value in params.items()]
            base = trial_spec.base_output_directory.output_uri_prefix.rstrip("/")
            metric = self._train(trial_spec.worker_pool_specs[0].container_spec,
                                 {"AIP_MODEL_DIR": f"{base}/{number}/model/", "CLOUD_ML_TRIAL_ID": str(number)}, flags)
            trials.append({"id": str(number), "state": "SUCCEEDED",
                           "parameters": [{"parameter_id": k, "value": v} for k, v in params.items()],
                           "final_measurement": {"metrics": [{"metric_id": vertex.METRIC, "value": metric}]}})
        return "SUCCEEDED", "", trials

    def _train(self, container, environ: dict[str, str], flags: list[str] = ()) -> float:
        """The training image's entry point over a copy of the bucket; returns the metric it reported to hypertune."""
        import json
        import tempfile

        from contrail.platforms.gcp import vertex
        from contrail.training import job as training_job

        assert list(container.command) == vertex.COMMAND, container.command
        args = list(container.args) + list(flags)
        if self.fail_training:
            args = [a.replace("/features", "/no-features") for a in args]  # the job finds no feature days
        with tempfile.TemporaryDirectory(prefix="twin-hypertune-") as tmp:
            metrics = f"{tmp}/metrics.json"
            lake_copy.on_copy(lambda argv, env: training_job.main(argv, {**env, "CLOUD_ML_HP_METRIC_FILE": metrics}),
                              args, environ)
            lines = Path(metrics).read_text().splitlines() if Path(metrics).exists() else []
        return float(json.loads(lines[-1])[training_job.VERTEX_METRIC]) if lines else 0.0
