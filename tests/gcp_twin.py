"""The cloud's side of the gcp profile's tests: the GCS emulator for the lake and the code bucket, the Dataproc
peer (tests/dataproc_peer.py) for clusters, jobs and batches, and a player that does what a Dataproc job would.
Test code, not product code.

A job or batch is played the way the cluster would run it: its main file must be in the code bucket (uploaded
by the deploy command, as a user does), and the same job file runs on the local Spark server over a local copy
of the buckets its arguments name (tests/lake_copy.py); the job ends DONE, and the DAG's next task reads real
outputs from the bucket. With `fail_jobs` set the job ends in ERROR, with a driver output in the bucket that
the platform must show.
"""

from __future__ import annotations

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
