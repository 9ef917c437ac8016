"""The AWS platform's pure request builders, compared by equality with the requests they must send."""

from __future__ import annotations

import pytest

from contrail.config import ConfigError
from contrail.platforms import cost
from contrail.platforms.aws import emr, housekeeping, sagemaker, settings
from contrail.platforms.naming import Names

ENV = {"CONTRAIL_AWS_CODE_URI": "s3://code-bucket/contrail/v7", "CONTRAIL_SAGEMAKER_ROLE": "arn:aws:iam::123456789012:role/sm",
       "CONTRAIL_SAGEMAKER_TRAINING_IMAGE": "123.dkr.ecr.us-east-1.amazonaws.com/contrail-train:v7",
       "CONTRAIL_SAGEMAKER_SERVING_IMAGE": "123.dkr.ecr.us-east-1.amazonaws.com/mlflow-pyfunc:3.17.2",
       "CONTRAIL_EMR_APPLICATION_ID": "00fabc", "CONTRAIL_EMR_JOB_ROLE": "arn:aws:iam::123456789012:role/emr-job"}
NAMES = Names("contrail_features", "build_features", "scheduled__2013-05-02T00:00:00+00:00", ("2013-05-01", "2013-05-02"))
TAGS = [{"Key": "contrail:dag_id", "Value": "contrail_features"},
        {"Key": "contrail:run_id", "Value": "scheduled__2013-05-02T00:00:00+00:00"},
        {"Key": "contrail:step", "Value": "build_features"}, {"Key": "contrail:days", "Value": "2013-05-01..2013-05-02"}]
CONF = ["--conf", "spark.sql.sources.partitionColumnTypeInference.enabled=false", "--conf", "spark.sql.shuffle.partitions=4",
        "--conf", "spark.executorEnv.OMP_WAIT_POLICY=PASSIVE"]


def s(**extra):
    return settings.load({**ENV, **extra})


def test_names_are_derived_from_the_run_never_from_the_clock():
    assert NAMES.resource("cluster") == f"contrail-build-features-cluster-20130501-20130502-{NAMES.digest}"
    assert NAMES.digest == Names(*[NAMES.dag_id, NAMES.step, NAMES.run_id, NAMES.days]).digest  # a retry: the same
    assert Names(NAMES.dag_id, NAMES.step, "manual__2026-12-01", NAMES.days).digest != NAMES.digest  # another run
    short = NAMES.resource("tune", max_len=32)
    assert short == f"contrail-tune-0501-0502-{NAMES.digest}"  # SageMaker allows a tuning job 32 characters


def test_the_ephemeral_cluster_has_spot_task_nodes_managed_scaling_idle_termination_and_the_python_bootstrap():
    assert emr.cluster_request(s(), NAMES) == {
        "Name": NAMES.resource("cluster", max_len=256),
        "ReleaseLabel": "emr-7.5.0",
        "LogUri": "s3://code-bucket/contrail/v7/emr-logs/",
        "Applications": [{"Name": "Spark"}],
        "Instances": {"InstanceGroups": [
            {"Name": "primary", "Market": "ON_DEMAND", "InstanceRole": "MASTER", "InstanceType": "m5.xlarge", "InstanceCount": 1},
            {"Name": "core", "Market": "ON_DEMAND", "InstanceRole": "CORE", "InstanceType": "m5.xlarge", "InstanceCount": 2},
            {"Name": "task", "Market": "SPOT", "InstanceRole": "TASK", "InstanceType": "m5.xlarge", "InstanceCount": 2}],
            "KeepJobFlowAliveWhenNoSteps": True, "TerminationProtected": False},
        "BootstrapActions": [{"Name": "python-environment", "ScriptBootstrapAction": {
            "Path": "s3://code-bucket/contrail/v7/bootstrap/emr-python.sh", "Args": ["s3://code-bucket/contrail/v7"]}}],
        "Configurations": [{"Classification": "spark-env", "Configurations": [
            {"Classification": "export", "Properties": {"PYSPARK_PYTHON": "/usr/bin/python3.11", "OMP_WAIT_POLICY": "PASSIVE"}}]}],
        "ManagedScalingPolicy": {"ComputeLimits": {"UnitType": "Instances", "MinimumCapacityUnits": 3, "MaximumCapacityUnits": 10,
                                                   "MaximumOnDemandCapacityUnits": 3, "MaximumCoreCapacityUnits": 2}},
        "AutoTerminationPolicy": {"IdleTimeout": 1800},
        "JobFlowRole": "EMR_EC2_DefaultRole", "ServiceRole": "EMR_DefaultRole", "VisibleToAllUsers": True,
        "Tags": TAGS,
    }


def test_a_cluster_without_task_nodes_or_spot_and_in_a_subnet():
    request = emr.cluster_request(s(CONTRAIL_EMR_TASK_COUNT="0", CONTRAIL_EMR_SUBNET_ID="subnet-1"), NAMES)
    assert [g["Name"] for g in request["Instances"]["InstanceGroups"]] == ["primary", "core"]
    assert request["Instances"]["Ec2SubnetId"] == "subnet-1"
    on_demand = emr.cluster_request(s(CONTRAIL_EMR_TASK_SPOT="false"), NAMES)["Instances"]["InstanceGroups"][2]
    assert on_demand["Market"] == "ON_DEMAND"


def test_a_step_spark_submits_the_same_job_file_with_the_jobs_arguments():
    argv = ["--features", "s3://lake/features", "--dates", "2013-05-01,2013-05-02"]
    assert emr.step_request("build_features", argv, s(), NAMES) == {
        "Name": NAMES.resource("step", max_len=256), "ActionOnFailure": "CONTINUE",
        "HadoopJarStep": {"Jar": "command-runner.jar", "Args": [
            "spark-submit", "--deploy-mode", "cluster", *CONF, "s3://code-bucket/contrail/v7/spark_jobs/build_features.py", *argv]}}


def test_a_serverless_job_run_uses_the_packed_environment_and_an_idempotency_token_from_the_run():
    request = emr.serverless_request("score_features", ["--plan", "{}"], s(), NAMES)
    py = "./environment/bin/python"
    assert request == {
        "application_id": "00fabc", "execution_role_arn": "arn:aws:iam::123456789012:role/emr-job",
        "name": NAMES.resource("job", max_len=256), "client_request_token": NAMES.resource("job", max_len=64),
        "job_driver": {"sparkSubmit": {"entryPoint": "s3://code-bucket/contrail/v7/spark_jobs/score_features.py",
                                       "entryPointArguments": ["--plan", "{}"], "sparkSubmitParameters": " ".join(CONF + [
                                           "--conf", "spark.archives=s3://code-bucket/contrail/v7/pyspark_env.tar.gz#environment",
                                           "--conf", f"spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON={py}",
                                           "--conf", f"spark.emr-serverless.driverEnv.PYSPARK_PYTHON={py}",
                                           "--conf", f"spark.executorEnv.PYSPARK_PYTHON={py}"])}},
        "configuration_overrides": {"monitoringConfiguration": {"s3MonitoringConfiguration": {
            "logUri": "s3://code-bucket/contrail/v7/emr-logs/"}}},
        "config": {"tags": NAMES.tags()}, "wait_for_completion": False}


def test_a_missing_setting_is_named_when_a_step_needs_it():
    with pytest.raises(ConfigError, match="CONTRAIL_AWS_CODE_URI is not set: the S3 prefix"):
        emr.cluster_request(settings.load({}), NAMES)
    with pytest.raises(ConfigError, match="CONTRAIL_EMR_CORE_COUNT='two': expected a int"):
        emr.cluster_request(s(CONTRAIL_EMR_CORE_COUNT="two"), NAMES)
    with pytest.raises(ConfigError, match="CONTRAIL_EMR_MODE='fleet': choose one of cluster, existing, serverless"):
        s(CONTRAIL_EMR_MODE="fleet").choice("emr_mode", settings.EMR_MODES)


SPEC = {"split": {"train": ["2013-05-01", "2013-05-02"], "validation": ["2013-05-03"], "holdout": ["2013-05-04"]},
        "params": {"num_leaves": 31}, "tune": False, "n_trials": 6, "timeout_s": 600.0, "seed": 13}
DEFINITION = {
    "AlgorithmSpecification": {"TrainingImage": ENV["CONTRAIL_SAGEMAKER_TRAINING_IMAGE"], "TrainingInputMode": "File",
                               "MetricDefinitions": [{"Name": "validation:roc_auc", "Regex": "validation:roc_auc=([0-9.]+)"},
                                                     {"Name": "holdout:roc_auc", "Regex": "holdout:roc_auc=([0-9.]+)"}]},
    "RoleArn": ENV["CONTRAIL_SAGEMAKER_ROLE"],
    "InputDataConfig": [{"ChannelName": "features", "InputMode": "File", "ContentType": "application/x-parquet",
                         "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": "s3://lake/c/training/jobs/J/manifest.json",
                                                         "S3DataDistributionType": "FullyReplicated"}}}],
    "OutputDataConfig": {"S3OutputPath": "s3://lake/c/training/jobs/"},
    "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
    "EnableManagedSpotTraining": True,
    "CheckpointConfig": {"S3Uri": "s3://lake/c/training/jobs/J/checkpoints/", "LocalPath": "/opt/ml/checkpoints"},
}


def test_the_training_job_is_managed_spot_with_checkpoints_and_the_spec_as_hyperparameters():
    names = Names("contrail_training", "train", "r1", ("2013-05-01", "2013-05-04"))
    request = sagemaker.training_request(SPEC, s(), names, "J", "s3://lake/c/training/jobs/J/manifest.json", "s3://lake/c")
    assert request == {"TrainingJobName": "J", **DEFINITION, "Tags": [{"Key": k, "Value": v} for k, v in names.tags().items()],
                       "HyperParameters": {"train_days": "2013-05-01,2013-05-02", "validation_days": "2013-05-03",
                                           "holdout_days": "2013-05-04", "num_leaves": "31", "seed": "13"}}


def test_the_tuning_job_searches_the_same_space_as_optuna_within_the_runs_budgets():
    names = Names("contrail_training", "train", "r1", ("2013-05-01", "2013-05-04"))
    request = sagemaker.tuning_request({**SPEC, "tune": True}, s(), names, "J", "s3://lake/c/training/jobs/J/manifest.json", "s3://lake/c")
    assert request["HyperParameterTuningJobConfig"] == {
        "Strategy": "Bayesian", "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:roc_auc"},
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 2, "MaxRuntimeInSeconds": 600},
        "ParameterRanges": {
            "IntegerParameterRanges": [
                {"Name": "n_estimators", "MinValue": "50", "MaxValue": "400", "ScalingType": "Linear"},
                {"Name": "num_leaves", "MinValue": "8", "MaxValue": "128", "ScalingType": "Logarithmic"},
                {"Name": "min_child_samples", "MinValue": "10", "MaxValue": "200", "ScalingType": "Logarithmic"}],
            "ContinuousParameterRanges": [
                {"Name": "learning_rate", "MinValue": "0.02", "MaxValue": "0.3", "ScalingType": "Logarithmic"},
                {"Name": "colsample_bytree", "MinValue": "0.5", "MaxValue": "1.0", "ScalingType": "Linear"},
                {"Name": "subsample", "MinValue": "0.5", "MaxValue": "1.0", "ScalingType": "Linear"},
                {"Name": "reg_lambda", "MinValue": "0.001", "MaxValue": "10.0", "ScalingType": "Logarithmic"}]},
        "TrainingJobEarlyStoppingType": "Off"}
    assert request["TrainingJobDefinition"] == {"StaticHyperParameters": {
        "train_days": "2013-05-01,2013-05-02", "validation_days": "2013-05-03", "holdout_days": "2013-05-04", "seed": "13"},
        **DEFINITION}


def test_hyperparameters_come_back_typed_by_the_search_space():
    from contrail.training import job

    hp = {**job.to_hyperparameters(SPEC), "learning_rate": "0.0731", "n_estimators": "120.0"}
    assert job.from_hyperparameters(hp) == {**SPEC, "params": {"n_estimators": 120, "learning_rate": 0.0731, "num_leaves": 31},
                                            "n_trials": 20}


def test_the_features_channel_lists_exactly_the_windows_files():
    files = ["s3://lake/c/features/dt=2013-05-01/part-0.parquet", "s3://lake/c/features/dt=2013-05-02/part-0.parquet"]
    assert sagemaker.manifest("s3://lake/c/features", files) == [
        {"prefix": "s3://lake/c/features/"}, "dt=2013-05-01/part-0.parquet", "dt=2013-05-02/part-0.parquet"]


CANDIDATE = {"model": "flights_delay", "version": "4", "run_id": "abc", "window": "2013-05-01..2013-05-28",
             "metrics": {"roc_auc": 0.71, "pr_auc": 0.4, "log_loss": 0.45, "brier": 0.14}}


@pytest.mark.parametrize("decision, approval", [("promoted", "Approved"), ("refused", "Rejected"), (None, "PendingManualApproval")])
def test_the_model_package_approval_follows_the_gate(decision, approval):
    request = sagemaker.package_request(CANDIDATE, decision, s(), "flights-delay", "s3://lake/registry/flights_delay/4/model.tar.gz")
    assert request == {
        "image_uri": ENV["CONTRAIL_SAGEMAKER_SERVING_IMAGE"], "model_url": "s3://lake/registry/flights_delay/4/model.tar.gz",
        "package_group_name": "flights-delay", "package_group_desc": "Contrail's flights_delay (MLflow is the registry of record)",
        "package_desc": "flights_delay v4, window 2013-05-01..2013-05-28", "model_approval": approval,
        "extras": {"CustomerMetadataProperties": {"mlflow_model": "flights_delay", "mlflow_version": "4", "mlflow_run_id": "abc",
                                                  "window": "2013-05-01..2013-05-28", "decision": decision or "none",
                                                  "holdout_roc_auc": "0.710000", "holdout_pr_auc": "0.400000",
                                                  "holdout_log_loss": "0.450000"}}}


def test_one_endpoint_per_model_with_a_model_and_configuration_per_version():
    request = sagemaker.endpoint_request("flights_delay", "4", s(), "s3://lake/registry/flights_delay/4/model.tar.gz", "update")
    assert request == {"operation": "update", "config": {
        "Model": {"ModelName": "contrail-flights-delay-v4", "ExecutionRoleArn": ENV["CONTRAIL_SAGEMAKER_ROLE"],
                  "PrimaryContainer": {"Image": ENV["CONTRAIL_SAGEMAKER_SERVING_IMAGE"],
                                       "ModelDataUrl": "s3://lake/registry/flights_delay/4/model.tar.gz",
                                       "Environment": {"MLFLOW_DEPLOYMENT_FLAVOR_NAME": "python_function"}}},
        "EndpointConfig": {"EndpointConfigName": "contrail-flights-delay-v4", "ProductionVariants": [
            {"VariantName": "champion", "ModelName": "contrail-flights-delay-v4", "InitialInstanceCount": 1,
             "InstanceType": "ml.m5.large"}]},
        "Endpoint": {"EndpointName": "contrail-flights-delay", "EndpointConfigName": "contrail-flights-delay-v4"}}}


def test_old_raw_data_moves_to_archive_classes():
    assert housekeeping.lifecycle_rules("contrail/", 90, 365) == [{
        "ID": "contrail-raw-archive", "Status": "Enabled", "Filter": {"Prefix": "contrail/raw/"},
        "Transitions": [{"Days": 90, "StorageClass": "GLACIER_IR"}, {"Days": 365, "StorageClass": "DEEP_ARCHIVE"}],
        "NoncurrentVersionExpiration": {"NoncurrentDays": 30}}]
    with pytest.raises(ConfigError, match="CONTRAIL_RAW_ARCHIVE_DAYS=400 must be above 0 and below"):
        housekeeping.lifecycle_rules("", 400, 365)


def test_the_cost_of_a_cluster_discounts_spot_capacity_but_not_the_emr_fee():
    figures = cost.estimate(emr.cost_lines(s(), "cluster"), cost.prices({}), 0.6)
    on_demand = (0.192 + 0.048) * 0.5  # one m5.xlarge node for half an hour, with EMR's fee
    spot = (0.192 * 0.4 + 0.048) * 0.5
    assert [line["usd"] for line in figures["lines"]] == [round(on_demand, 4), round(2 * on_demand, 4), round(2 * spot, 4)]
    assert figures["usd"] == pytest.approx(3 * on_demand + 2 * spot, abs=1e-4)
    assert cost.estimate(emr.cost_lines(s(), "existing"), cost.prices({}), 0.6)["usd"] == 0


def test_the_budget_refuses_an_estimate_above_it_saying_how_much_and_why():
    figures = cost.estimate(emr.cost_lines(s(CONTRAIL_EMR_CORE_COUNT="20"), "cluster"), cost.prices({}), 0.6)
    cost.guard(figures, "the cluster", None)  # no budget: no limit
    cost.guard(figures, "the cluster", 100.0)
    with pytest.raises(cost.BudgetExceeded, match=r"the estimated cost of the cluster, \$2\.\d\d .*core: 20 x m5.xlarge x 0.5 h.*"
                                                  r"exceeds the budget \$1\.00 \(CONTRAIL_BUDGET_USD\); nothing was started"):
        cost.guard(figures, "the cluster", 1.0)


def test_an_instance_type_without_a_price_names_the_setting_to_add_it():
    with pytest.raises(ConfigError, match="no price for 'ec2:x9.huge'.*CONTRAIL_PRICES"):
        cost.estimate(emr.cost_lines(s(CONTRAIL_EMR_CORE_TYPE="x9.huge"), "cluster"), cost.prices({}), 0.6)
    table = cost.prices({"CONTRAIL_PRICES": '{"ec2:x9.huge": 9.0, "emr:x9.huge": 1.0}'})
    assert cost.estimate([cost.Line("core", "x9.huge", 2, 1.0, uplift="emr")], table, 0.6)["usd"] == 20.0


def test_the_readme_documents_every_aws_setting():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert [s.env for s in settings.TABLE if f"`{s.env}`" not in readme] == []
