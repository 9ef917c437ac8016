"""Training, tuning, the registry mirror and scoring of the gcp profile, run through its DAGs against the Vertex AI
and Dataproc peers and the GCS emulator; the twin plays the training container (FUSE paths, AIP_MODEL_DIR, trial
flags and hypertune metrics) and the cluster."""

from __future__ import annotations

import json

import pytest
from dag_checks import champion, states
from gcp_twin import LAKE, MODEL, PROJECT, REGION, VERTEX_SA

from contrail import storage

pytestmark = [pytest.mark.airflow, pytest.mark.spark]
WINDOW = ("2013-08-01", "2013-08-10")


@pytest.fixture(scope="module")
def window(gcp):
    import synthetic_features as synthetic

    return synthetic.write_days(WINDOW[0], 10)


@pytest.fixture(scope="module")
def trained(gcp, gcp_dags, window):
    return gcp_dags.get_dag("contrail_training").test(run_conf={"start": WINDOW[0], "end": WINDOW[1], "tune": False})


def test_a_vertex_custom_job_trains_the_model_that_mlflow_registers_and_the_gate_promotes(gcp, trained, window):
    got = states(trained)
    assert trained.state == "success", got
    assert (got["train.submit_training"], got["train.await_training"], got["train.submit_tuning"]) == ("success", "success", "skipped")
    mv = champion(MODEL)
    name = mv.tags["contrail.job"]
    assert mv.tags["contrail.platform"] == "gcp" and mv.tags["contrail.window"] == "..".join(WINDOW)
    sent = gcp.vertex.last("CreateCustomJob")
    assert sent.parent == f"projects/{PROJECT}/locations/{REGION}" and sent.custom_job.display_name == name
    spec = sent.custom_job.job_spec
    pool = spec.worker_pool_specs[0]
    lake = f"gs://{LAKE}/contrail"
    assert list(pool.container_spec.command) == ["python", "-m", "contrail.training.job"]
    assert list(pool.container_spec.args) == ["--spec", f"/gcs/{LAKE}/contrail/training/jobs/{name}/spec.json",
                                              "--features", f"/gcs/{LAKE}/contrail/features"]
    assert pool.container_spec.image_uri.endswith("/contrail-training:test") and pool.machine_spec.machine_type == "n2-standard-4"
    assert spec.scheduling.strategy.name == "SPOT" and spec.service_account == VERTEX_SA
    assert spec.base_output_directory.output_uri_prefix == f"{lake}/training/jobs/{name}/"
    assert sent.custom_job.labels["contrail-run-id"].startswith("manual__")
    assert (storage.location(f"training/jobs/{name}/model") / "result.json").exists()  # AIP_MODEL_DIR, in the lake
    spec_json = json.loads(storage.location(f"training/jobs/{name}/spec.json").read_text())
    assert spec_json["split"]["holdout"] == list(window[-2:])


def test_the_promoted_version_is_mirrored_into_the_vertex_model_registry_as_the_champion(gcp, trained):
    mv = champion(MODEL)
    sent = gcp.vertex.last("UploadModel")
    model = sent.model
    assert model.display_name == MODEL and model.labels["mlflow-version"] == str(mv.version)
    assert model.artifact_uri == f"gs://{LAKE}/contrail/registry/{MODEL}/{mv.version}/model"
    assert storage.location(f"registry/{MODEL}/{mv.version}/model/MLmodel").exists()  # exported before the upload
    assert list(model.version_aliases) == [f"mlflow-v{mv.version}", "champion"]
    assert model.container_spec.image_uri.endswith("/mlflow-pyfunc:3.17.2")
    (version,) = gcp.vertex.versions(MODEL)
    assert "champion" in version.version_aliases


def test_a_retried_submit_reattaches_to_its_custom_job(gcp, gcp_dags, trained):
    from aws_twin import TryContext, run_task

    from contrail.platforms import gcp as platform
    from contrail.platforms.naming import Names
    from contrail.training import job

    name = champion(MODEL).tags["contrail.job"]
    split = json.loads(storage.location(f"training/jobs/{name}/spec.json").read_text())["split"]
    plan = platform.plan_training(job.spec(split), Names("contrail_training", "train", trained.run_id, tuple(WINDOW)), name)
    before = len(gcp.vertex.calls("CreateCustomJob"))
    again = run_task(gcp_dags.get_dag("contrail_training").get_task("train.submit_training"), plan["submit_training"], TryContext())
    assert again["display_name"] == name and again["state"] in ("JOB_STATE_SUCCEEDED", 4)
    assert len(gcp.vertex.calls("CreateCustomJob")) == before  # found, not started again


def test_a_tuning_job_searches_the_space_and_its_best_trial_is_registered(gcp, gcp_dags, trained):
    from contrail.registry import tracking
    from contrail.training import model

    run = gcp_dags.get_dag("contrail_training").test(
        run_conf={"start": WINDOW[0], "end": WINDOW[1], "tune": True, "n_trials": 2, "timeout_minutes": 5})
    got = states(run)
    assert got["train.submit_tuning"] == got["train.await_tuning"] == got["train.register"] == "success", got
    assert got["train.submit_training"] == "skipped"
    sent = gcp.vertex.last("CreateHyperparameterTuningJob").hyperparameter_tuning_job
    assert sorted(p.parameter_id for p in sent.study_spec.parameters) == sorted(model.SEARCH_SPACE)
    assert (sent.max_trial_count, sent.parallel_trial_count) == (2, 2)
    finished = gcp.vertex.job(sent.display_name, "tuning")
    best = max(finished.trials, key=lambda t: t.final_measurement.metrics[0].value)
    (mv,) = [v for v in tracking.client().search_model_versions(f"name='{MODEL}'")
             if v.tags.get("contrail.job") == sent.display_name]
    params = tracking.client().get_run(mv.tags["contrail.run_id"]).data.params
    tuned = {p.parameter_id: p.value for p in best.parameters}
    assert float(params["learning_rate"]) == pytest.approx(tuned["learning_rate"])
    assert (storage.location(f"training/jobs/{sent.display_name}/{best.id}/model") / "result.json").exists()


def test_a_failed_custom_job_fails_the_run_with_its_error_and_console_link(gcp, gcp_dags, trained, capfd):
    gcp.fail_training = True
    try:
        run = gcp_dags.get_dag("contrail_training").test(run_conf={"start": WINDOW[0], "end": WINDOW[1], "tune": False})
    finally:
        gcp.fail_training = False
    text = "".join(capfd.readouterr())
    assert run.state == "failed" and states(run)["train.submit_training"] == "failed"
    assert "is JOB_STATE_FAILED: The replica workerpool0-0 exited with a non-zero status" in text  # Vertex AI's error
    assert "console.cloud.google.com/vertex-ai/locations/europe-west1/training/" in text  # its console page


def test_scoring_runs_on_dataproc_and_every_prediction_names_the_champion(gcp, gcp_dags, trained):
    from contrail import scoring

    day = WINDOW[1]
    run = gcp_dags.get_dag("contrail_inference").test(run_conf={"start": day, "end": day})
    assert run.state == "success", states(run)
    version = str(champion(MODEL).version)
    assert scoring.read_manifest(day)["model_version"] == version
    assert storage.parquet_rows(storage.location(f"predictions/dt={day}")) == storage.parquet_rows(storage.location(f"features/dt={day}"))
    job = next(r.job for r in reversed(gcp.peer.calls("SubmitJob")) if r.job.pyspark_job.main_python_file_uri.endswith("/score_features.py"))
    args = list(job.pyspark_job.args)
    assert json.loads(args[args.index("--plan") + 1]) == {version: {"days": [day], "threshold": pytest.approx(
        float(champion(MODEL).tags["contrail.threshold"]))}}
