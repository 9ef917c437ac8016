"""The gcp profile's settings: one table, read when a step plans (never at DAG parse time)."""

from __future__ import annotations

from contrail.platforms.settings import Setting, Settings

DATAPROC_MODES = ("cluster", "serverless")
SCORING_ENGINES = ("spark", "batch")
CONVERTERS = ("none", "dataflow")
SECONDARY_KINDS = ("spot", "preemptible", "non-preemptible")

TABLE = (
    Setting("conn_id", "CONTRAIL_GCP_CONN_ID", "google_cloud_default",
            "the Airflow connection (or Secret Manager secret) holding the service account Airflow acts as"),
    Setting("project", "CONTRAIL_GCP_PROJECT", None, "the Google Cloud project id the clusters and jobs run in"),
    Setting("region", "CONTRAIL_GCP_REGION", None, "the region of the clusters, batches and Vertex AI jobs, e.g. europe-west1"),
    Setting("code_uri", "CONTRAIL_GCP_CODE_URI", None,
            "the gs:// prefix `python -m contrail.platforms.gcp.deploy` uploaded the code to, e.g. gs://my-bucket/contrail-code/v1"),
    Setting("dataproc_mode", "CONTRAIL_DATAPROC_MODE", "cluster",
            "cluster (an ephemeral Dataproc cluster per run) or serverless (a Dataproc Serverless batch per job)"),
    Setting("dataproc_service_account", "CONTRAIL_DATAPROC_SERVICE_ACCOUNT", None,
            "the service account the Dataproc VMs and batches run as (deploy/gcp/iam/dataproc-worker.yaml)"),
    Setting("dataproc_image", "CONTRAIL_DATAPROC_IMAGE_VERSION", "2.3-debian12", "the Dataproc image version of the clusters"),
    Setting("dataproc_runtime", "CONTRAIL_DATAPROC_RUNTIME_VERSION", "2.3", "the Dataproc Serverless runtime version"),
    Setting("dataproc_container_image", "CONTRAIL_DATAPROC_CONTAINER_IMAGE", None,
            "Dataproc Serverless: the custom container image holding the executors' Python libraries"),
    Setting("dataproc_subnetwork", "CONTRAIL_DATAPROC_SUBNETWORK", None, "the VPC subnetwork of the clusters (default: the project's default)"),
    Setting("dataproc_primary_type", "CONTRAIL_DATAPROC_PRIMARY_TYPE", "n2-standard-4", "the primary node's machine type"),
    Setting("dataproc_worker_type", "CONTRAIL_DATAPROC_WORKER_TYPE", "n2-standard-4", "the primary workers' machine type"),
    Setting("dataproc_worker_count", "CONTRAIL_DATAPROC_WORKER_COUNT", "2", "how many primary workers (standard VMs)"),
    Setting("dataproc_secondary_count", "CONTRAIL_DATAPROC_SECONDARY_COUNT", "2", "how many secondary workers to start with"),
    Setting("dataproc_secondary_kind", "CONTRAIL_DATAPROC_SECONDARY_KIND", "spot",
            "the secondary workers' preemptibility: spot, preemptible or non-preemptible"),
    Setting("dataproc_autoscaling_policy", "CONTRAIL_DATAPROC_AUTOSCALING_POLICY", "contrail-secondary-workers",
            "the autoscaling policy id (deploy/gcp/autoscaling-policy.yaml) scaling the secondary workers"),
    Setting("dataproc_idle_ttl_s", "CONTRAIL_DATAPROC_IDLE_TTL_S", "1800",
            "idle delete TTL of a cluster in seconds (a safety net behind the teardown task)"),
    Setting("dataproc_expected_hours", "CONTRAIL_DATAPROC_EXPECTED_HOURS", "0.5", "hours a cluster is expected to live (cost estimate)"),
    Setting("serverless_executors", "CONTRAIL_DATAPROC_SERVERLESS_EXECUTORS", "2", "executors of a serverless batch"),
    Setting("serverless_cores", "CONTRAIL_DATAPROC_SERVERLESS_CORES", "4", "cores per serverless executor and driver (cost estimate)"),
    Setting("vertex_service_account", "CONTRAIL_VERTEX_SERVICE_ACCOUNT", None,
            "the service account Vertex AI training jobs run as (deploy/gcp/iam/vertex-trainer.yaml)"),
    Setting("training_image", "CONTRAIL_VERTEX_TRAINING_IMAGE", None,
            "the training image URI (Dockerfile.training, pushed to Artifact Registry)"),
    Setting("serving_image", "CONTRAIL_VERTEX_SERVING_IMAGE", None,
            "the MLflow pyfunc serving image URI in Artifact Registry (`mlflow models build-docker`)"),
    Setting("training_machine_type", "CONTRAIL_VERTEX_MACHINE_TYPE", "n2-standard-4", "the training machine type"),
    Setting("training_spot", "CONTRAIL_VERTEX_SPOT", "true", "Spot VMs for training (scheduling strategy SPOT)"),
    Setting("training_max_run_s", "CONTRAIL_VERTEX_MAX_RUN_S", "3600", "a training job's longest run"),
    Setting("training_expected_hours", "CONTRAIL_VERTEX_EXPECTED_HOURS", "0.25", "hours a training job is expected to take (cost estimate)"),
    Setting("tuning_parallel", "CONTRAIL_VERTEX_TUNING_PARALLEL", "2", "trials a tuning job runs at once"),
    Setting("endpoint_machine_type", "CONTRAIL_VERTEX_ENDPOINT_TYPE", "n2-standard-2", "the endpoint's machine type"),
    Setting("endpoint_replicas", "CONTRAIL_VERTEX_ENDPOINT_REPLICAS", "1", "the endpoint's replicas"),
    Setting("scoring_engine", "CONTRAIL_SCORING_ENGINE", "spark",
            "spark (the score job on Dataproc) or batch (a Vertex AI batch prediction job of one model version a run)"),
    Setting("landing_converter", "CONTRAIL_LANDING_CONVERTER", "none", "none, or dataflow: a Dataflow template turns CSV drops into Parquet"),
    Setting("dataflow_template", "CONTRAIL_DATAFLOW_TEMPLATE", None, "the gs:// path of the Dataflow template the dataflow converter runs"),
    Setting("raw_archive_days", "CONTRAIL_RAW_ARCHIVE_DAYS", "90", "raw/ objects move to Coldline after this many days"),
    Setting("raw_deep_archive_days", "CONTRAIL_RAW_DEEP_ARCHIVE_DAYS", "365", "and to Archive after this many"),
    Setting("poll_s", "CONTRAIL_GCP_POLL_S", "60", "seconds between checks of a running job"),
)


def load(environ=None) -> Settings:
    return Settings.from_env(TABLE, environ)
