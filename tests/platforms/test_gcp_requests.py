"""The Google Cloud platform's pure request builders, compared by equality with the requests they must send,
and the training job's Vertex AI conventions (FUSE paths, AIP_MODEL_DIR, trial flags, the hypertune file)."""

from __future__ import annotations

import json

import pytest

from contrail.config import ConfigError
from contrail.platforms import cost
from contrail.platforms.gcp import account, dataproc, reaper, registry, settings, vertex
from contrail.platforms.naming import Names, run_of

ENV = {"CONTRAIL_GCP_PROJECT": "contrail-prod", "CONTRAIL_GCP_REGION": "europe-west1",
       "CONTRAIL_GCP_CODE_URI": "gs://code-bucket/contrail/v7",
       "CONTRAIL_DATAPROC_SERVICE_ACCOUNT": "contrail-dataproc@contrail-prod.iam.gserviceaccount.com",
       "CONTRAIL_DATAPROC_CONTAINER_IMAGE": "europe-docker.pkg.dev/contrail-prod/contrail/spark:v7",
       "CONTRAIL_VERTEX_SERVICE_ACCOUNT": "contrail-trainer@contrail-prod.iam.gserviceaccount.com",
       "CONTRAIL_VERTEX_TRAINING_IMAGE": "europe-docker.pkg.dev/contrail-prod/contrail/training:v7",
       "CONTRAIL_VERTEX_SERVING_IMAGE": "europe-docker.pkg.dev/contrail-prod/contrail/mlflow-pyfunc:3.17.2"}
NAMES = Names("contrail_features", "build_features", "scheduled__2013-05-02T00:00:00+00:00", ("2013-05-01", "2013-05-02"))
CONN = {"gcp_conn_id": "google_cloud_default", "project_id": "contrail-prod", "region": "europe-west1"}
LABELS = {"contrail-dag-id": "contrail_features", "contrail-run-id": "scheduled__2013-05-02t00-00-00-00-00",
          "contrail-step": "build_features", "contrail-days": "2013-05-01-2013-05-02", "contrail-digest": NAMES.digest}
CONF = {"spark.sql.sources.partitionColumnTypeInference.enabled": "false", "spark.sql.shuffle.partitions": "4",
        "spark.executorEnv.OMP_WAIT_POLICY": "PASSIVE"}
ARGV = ["--dates", "2013-05-01,2013-05-02"]


def s(**extra):
    return settings.load({**ENV, **extra})


def test_names_and_labels_are_what_dataproc_and_vertex_accept():
    import re

    assert dataproc.cluster_name(NAMES) == f"contrail-cluster-20130501-20130502-{NAMES.digest}"  # the step goes first: 51 characters
    assert re.fullmatch(r"[a-z](?:[-a-z0-9]{0,49}[a-z0-9])", dataproc.cluster_name(NAMES))
    assert account.labels(NAMES) == LABELS
    assert all(re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", k) and re.fullmatch(r"[a-z0-9_-]{0,63}", v) for k, v in LABELS.items())
    # the cluster's metadata carries the run exactly (labels cannot): what the reaper reads back
    assert run_of(reaper.tags_of(reaper.metadata(NAMES))) == ("contrail_features", NAMES.run_id)


def test_the_ephemeral_cluster_has_spot_secondary_workers_autoscaling_an_idle_ttl_and_the_python_init_action():
    request = dataproc.cluster_request(s(), NAMES, CONN)
    assert request == {
        "cluster_name": dataproc.cluster_name(NAMES), "labels": LABELS, "request_id": f"contrail-{NAMES.digest}-create",
        "use_if_exists": True, "delete_on_error": True, "deferrable": True, "polling_interval_seconds": 60,
        "cluster_config": {
            "gce_cluster_config": {"service_account": ENV["CONTRAIL_DATAPROC_SERVICE_ACCOUNT"],
                                   "service_account_scopes": ["https://www.googleapis.com/auth/cloud-platform"],
                                   "metadata": {"contrail-code-uri": "gs://code-bucket/contrail/v7", **reaper.metadata(NAMES)}},
            "master_config": {"num_instances": 1, "machine_type_uri": "n2-standard-4"},
            "worker_config": {"num_instances": 2, "machine_type_uri": "n2-standard-4"},
            "secondary_worker_config": {"num_instances": 2, "machine_type_uri": "n2-standard-4", "preemptibility": "SPOT"},
            "software_config": {"image_version": "2.3-debian12", "properties": {f"spark:{k}": v for k, v in CONF.items()}},
            "initialization_actions": [{"executable_file": "gs://code-bucket/contrail/v7/bootstrap/dataproc-python.sh",
                                        "execution_timeout": {"seconds": 900}}],
            "lifecycle_config": {"idle_delete_ttl": {"seconds": 1800}},
            "autoscaling_config": {"policy_uri": "projects/contrail-prod/regions/europe-west1/autoscalingPolicies/"
                                                 "contrail-secondary-workers"}}}
    from google.cloud.dataproc_v1 import Cluster

    Cluster(cluster_name=request["cluster_name"], config=request["cluster_config"])  # the library accepts it as it is


def test_preemptible_or_no_secondary_workers_and_no_autoscaling_policy():
    config = dataproc.cluster_request(s(CONTRAIL_DATAPROC_SECONDARY_KIND="preemptible"), NAMES, CONN)["cluster_config"]
    assert config["secondary_worker_config"]["preemptibility"] == "PREEMPTIBLE"
    config = dataproc.cluster_request(s(CONTRAIL_DATAPROC_SECONDARY_COUNT="0", CONTRAIL_DATAPROC_AUTOSCALING_POLICY=" "),
                                      NAMES, CONN)["cluster_config"]
    assert "secondary_worker_config" not in config  # an empty policy setting falls back to its default
    with pytest.raises(ConfigError, match="CONTRAIL_DATAPROC_SECONDARY_KIND='cheap': choose one of spot, preemptible"):
        dataproc.cluster_request(s(CONTRAIL_DATAPROC_SECONDARY_KIND="cheap"), NAMES, CONN)


def test_the_pyspark_job_runs_the_same_job_file_with_its_arguments_and_conf():
    assert dataproc.job_request("build_features", ARGV, s(), NAMES) == {
        "job": {"reference": {"job_id": f"contrail-build-features-job-20130501-20130502-{NAMES.digest}"},
                "placement": {"cluster_name": dataproc.cluster_name(NAMES)}, "labels": LABELS,
                "pyspark_job": {"main_python_file_uri": "gs://code-bucket/contrail/v7/spark_jobs/build_features.py",
                                "args": ARGV, "properties": CONF}},
        "request_id": f"contrail-{NAMES.digest}-submit", "asynchronous": True}


def test_a_serverless_batch_runs_in_the_container_image_as_the_service_account():
    assert dataproc.batch_request("build_features", ARGV, s(), NAMES) == {
        "batch": {"pyspark_batch": {"main_python_file_uri": "gs://code-bucket/contrail/v7/spark_jobs/build_features.py", "args": ARGV},
                  "runtime_config": {"version": "2.3", "container_image": ENV["CONTRAIL_DATAPROC_CONTAINER_IMAGE"],
                                     "properties": {**CONF, "spark.executor.instances": "2", "spark.executor.cores": "4",
                                                    "spark.driver.cores": "4"}},
                  "environment_config": {"execution_config": {"service_account": ENV["CONTRAIL_DATAPROC_SERVICE_ACCOUNT"]}},
                  "labels": LABELS},
        "batch_id": f"contrail-build-features-batch-20130501-20130502-{NAMES.digest}",
        "request_id": f"contrail-{NAMES.digest}-batch", "asynchronous": True}
    env = {k: v for k, v in ENV.items() if k != "CONTRAIL_DATAPROC_CONTAINER_IMAGE"}
    with pytest.raises(ConfigError, match="CONTRAIL_DATAPROC_CONTAINER_IMAGE is not set"):
        dataproc.batch_request("build_features", ARGV, settings.load(env), NAMES)


def test_cluster_and_batch_costs_come_from_the_price_table():
    figures = cost.estimate(dataproc.cost_lines(s(), "cluster"), cost.prices({}), 0.6)
    # primary and 2 workers on demand, 2 spot secondaries (the VM discounted, Dataproc's fee not), half an hour
    vm, fee = 0.194236, 0.04
    assert figures["usd"] == pytest.approx(round(0.5 * (3 * (vm + fee) + 2 * (0.4 * vm + fee)), 4))
    serverless = cost.estimate(dataproc.cost_lines(s(), "serverless"), cost.prices({}), 0.6)
    assert serverless["usd"] == pytest.approx(0.5 * 12 * 0.06)  # (1 driver + 2 executors) x 4 cores


SPEC = {"split": {"train": ["2013-08-01"], "validation": ["2013-08-02"], "holdout": ["2013-08-03"]}, "params": {},
        "tune": False, "n_trials": 6, "timeout_s": 600.0, "seed": 13}
LAKE = "gs://lake-bucket/contrail"
RUN_ENV = [{"name": "CONTRAIL_TAG_DAG_ID", "value": "contrail_training"}, {"name": "CONTRAIL_TAG_RUN_ID", "value": "manual__1"},
       {"name": "CONTRAIL_TAG_STEP", "value": "train"}, {"name": "CONTRAIL_TAG_DAYS", "value": "2013-08-01..2013-08-03"}]
POOL = {"machine_spec": {"machine_type": "n2-standard-4"}, "replica_count": 1,
        "container_spec": {"image_uri": ENV["CONTRAIL_VERTEX_TRAINING_IMAGE"], "command": ["python", "-m", "contrail.training.job"],
                           "args": ["--spec", "/gcs/lake-bucket/contrail/training/jobs/job-1/spec.json",
                                    "--features", "/gcs/lake-bucket/contrail/features"],
                           "env": RUN_ENV}}  # the run's tags, exactly (labels cannot hold a run id): the reaper reads them


def test_the_custom_job_runs_the_training_image_on_spot_vms_as_its_service_account():
    train = Names("contrail_training", "train", "manual__1", ("2013-08-01", "2013-08-03"))
    assert vertex.training_request(s(), train, "job-1", LAKE) == {
        "custom_job": {"display_name": "job-1", "labels": account.labels(train),
                       "job_spec": {"worker_pool_specs": [POOL], "service_account": ENV["CONTRAIL_VERTEX_SERVICE_ACCOUNT"],
                                    "scheduling": {"timeout": "3600s", "strategy": "SPOT"},
                                    "base_output_directory": {"output_uri_prefix": f"{LAKE}/training/jobs/job-1/"}}},
        "deferrable": True, "poll_interval": 60}
    standard = vertex.training_request(s(CONTRAIL_VERTEX_SPOT="false"), train, "job-1", LAKE)
    assert standard["custom_job"]["job_spec"]["scheduling"]["strategy"] == "STANDARD"


def test_the_tuning_job_searches_the_same_space_as_optuna():
    from google.cloud.aiplatform import hyperparameter_tuning as hpt

    from contrail.training import model

    train = Names("contrail_training", "train", "manual__1", ("2013-08-01", "2013-08-03"))
    request = vertex.tuning_request({**SPEC, "tune": True}, s(), train, "job-1", LAKE)
    assert request["metric_spec"] == {"validation_roc_auc": "maximize"}
    assert (request["max_trial_count"], request["parallel_trial_count"], request["timeout"]) == (6, 2, 600)
    assert request["worker_pool_specs"] == [POOL] and request["base_output_dir"] == f"{LAKE}/training/jobs/job-1"
    assert request["staging_bucket"] == LAKE  # the SDK's CustomJob under the operator refuses to start without one
    # the tuning operator has no scheduling strategy: its trials run (and are priced) on standard VMs
    assert [(line.what, line.count, line.spot) for line in vertex.training_cost(s(), trials=6)] == [("tuning trials", 6, False)]
    assert [(line.what, line.spot) for line in vertex.training_cost(s())] == [("training job", True)]
    assert request["parameter_spec"]["learning_rate"] == {"kind": "double", "min": 0.02, "max": 0.3, "scale": "log"}
    assert request["parameter_spec"]["n_estimators"] == {"kind": "integer", "min": 50, "max": 400, "scale": "linear"}
    assert set(request["parameter_spec"]) == set(model.SEARCH_SPACE)
    json.dumps(request)  # it travels as an XCom
    specs = vertex.tuning_arguments(request)["parameter_spec"]
    assert isinstance(specs["num_leaves"], hpt.IntegerParameterSpec) and specs["num_leaves"].scale == "log"
    assert (specs["subsample"].min, specs["subsample"].max) == (0.5, 1.0)


def test_a_mirrored_version_is_a_new_version_of_one_vertex_model_with_the_champion_alias_when_promoted():
    candidate = {"model": "flight_delay", "version": 7, "window": "2013-08-01..2013-08-28", "run_id": "abc123",
                 "metrics": {"roc_auc": 0.7012, "log_loss": 0.58}}
    request = registry.upload_request(candidate, "promoted", s(), f"{LAKE}/registry/flight_delay/7/model", "4242")
    assert request == {"parent_model": "4242", "model": {
        "display_name": "flight_delay", "artifact_uri": f"{LAKE}/registry/flight_delay/7/model",
        "container_spec": {"image_uri": ENV["CONTRAIL_VERTEX_SERVING_IMAGE"], "predict_route": "/invocations",
                           "health_route": "/ping", "ports": [{"container_port": 8080}],
                           "env": [{"name": "MLFLOW_DEPLOYMENT_FLAVOR_NAME", "value": "python_function"}]},
        "labels": {"mlflow-model": "flight_delay", "mlflow-version": "7", "decision": "promoted", "holdout-roc-auc": "0_7012"},
        "description": "flight_delay v7, window 2013-08-01..2013-08-28 (MLflow run abc123; MLflow is the registry of record)",
        "version_aliases": ["mlflow-v7", "champion"]}}
    refused = registry.upload_request(candidate, "refused", s(), "gs://x", None)
    assert refused["model"]["version_aliases"] == ["mlflow-v7"] and refused["parent_model"] is None


@pytest.mark.parametrize("key, value, message", [
    ("CONTRAIL_GCP_REGION", "", "CONTRAIL_GCP_REGION is not set"),
    ("CONTRAIL_VERTEX_TRAINING_IMAGE", "", "CONTRAIL_VERTEX_TRAINING_IMAGE is not set"),
    ("CONTRAIL_DATAPROC_SERVICE_ACCOUNT", "", "CONTRAIL_DATAPROC_SERVICE_ACCOUNT is not set"),
])
def test_a_missing_setting_is_named(key, value, message):
    with pytest.raises(ConfigError, match=message):
        if key == "CONTRAIL_GCP_REGION":
            s(**{key: value}).need("region")
        elif key == "CONTRAIL_VERTEX_TRAINING_IMAGE":
            vertex.training_request(s(**{key: value}), NAMES, "job-1", LAKE)
        else:
            dataproc.cluster_request(s(**{key: value}), NAMES, CONN)


def test_a_service_account_must_be_an_email():
    with pytest.raises(ConfigError, match="CONTRAIL_VERTEX_SERVICE_ACCOUNT='trainer': expected a service account e-mail"):
        account.require_service_account(s(CONTRAIL_VERTEX_SERVICE_ACCOUNT="trainer"), "vertex_service_account", CONN)


def test_the_training_job_follows_vertex_conventions(tmp_path, monkeypatch):
    """FUSE paths for gs:// URIs, the output in AIP_MODEL_DIR, a trial's parameters as flags (no tuning inside it),
    and the trial's metric in the hypertune file."""
    from contrail.training import job

    assert job.fuse_path("gs://lake/contrail/features") == job.Path("/gcs/lake/contrail/features")
    seen = {}
    monkeypatch.setattr(job, "run", lambda spec, features, output: seen.update(spec=spec, features=features, output=output)
                        or {"validation": {"roc_auc": 0.6789}})
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({**SPEC, "tune": True}))
    metrics = tmp_path / "hypertune" / "output.metrics"
    env = {"AIP_MODEL_DIR": str(tmp_path / "model"), "CLOUD_ML_TRIAL_ID": "3", "CLOUD_ML_HP_METRIC_FILE": str(metrics)}
    job.main(["--spec", str(spec), "--features", str(tmp_path), "--num_leaves=63", "--learning_rate=0.1"], environ=env)
    assert seen["output"] == tmp_path / "model" and seen["features"] == tmp_path
    assert seen["spec"]["tune"] is False and seen["spec"]["params"] == {"num_leaves": 63, "learning_rate": 0.1}
    assert seen["spec"]["split"] == SPEC["split"] and seen["spec"]["n_trials"] == 6
    (line,) = metrics.read_text().splitlines()
    assert {k: v for k, v in json.loads(line).items() if k != "timestamp"} == {
        "trial": "3", "validation_roc_auc": "0.6789", "global_step": "0", "checkpoint_path": ""}
    with pytest.raises(SystemExit):  # outside Vertex AI without --output
        job.main(["--spec", str(spec), "--features", str(tmp_path)], environ={})


def test_the_lifecycle_rules_move_old_raw_data_to_coldline_then_archive():
    from contrail.platforms.gcp import housekeeping

    rules = housekeeping.lifecycle_rules("contrail/", 90, 365)
    assert rules == [
        {"action": {"type": "SetStorageClass", "storageClass": "COLDLINE"},
         "condition": {"age": 90, "matchesPrefix": ["contrail/raw/"], "matchesStorageClass": ["STANDARD"]}},
        {"action": {"type": "SetStorageClass", "storageClass": "ARCHIVE"},
         "condition": {"age": 365, "matchesPrefix": ["contrail/raw/"], "matchesStorageClass": ["STANDARD", "COLDLINE"]}}]
    assert all(housekeeping.is_contrails(r, "contrail/") for r in rules)
    assert not housekeeping.is_contrails({"action": {"type": "Delete"}, "condition": {"age": 7}}, "contrail/")
    with pytest.raises(ConfigError, match="CONTRAIL_RAW_ARCHIVE_DAYS=400 must be above 0 and below"):
        housekeeping.lifecycle_rules("", 400, 365)
