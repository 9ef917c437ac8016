"""Scenario 12 (issue 15): hostile paths and models.

Every class of path payload is sent through the real entry points where a string from outside becomes a
path: DAG params (the DAGs' own Param schemas and their resolve tasks), the CLIs' --start/--end, table and
model names, storage settings as profile loading reads them, the cockpit's URL paths and the plans'
lake paths. Each must be refused naming the param or setting, what is wrong and the fix, while the
(empty, private) lake stays untouched. Then models: versions registered from outside the artifact
store, or pickled, must never be loaded by promotion, serving, batch scoring or registration; their
pickle, if it were ever read, would create a canary file.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import uuid
from pathlib import Path

import pytest

from contrail import cockpit, config, drops, ingest, inputs, storage
from contrail.platforms import local
from contrail.runs import days_or_stale, requested_days
from contrail.sources import get_source

SCENARIO = "12 hostile paths and models"
DAY = "2013-05-01"
# payload class -> (a hostile value, what the refusal must say is wrong; None: the validator's own complaint)
PAYLOADS = {
    "dot-dot": ("../../etc/passwd", "'..' segment"),
    "date, then dot-dot": (f"{DAY}/../../etc", "'..' segment"),
    "percent-encoded dot-dot": ("%2e%2e%2f%2e%2e%2fetc", "percent-encoding"),
    "fragment": (f"{DAY}#/../x", "'#'"),
    "semicolon": (f"{DAY};rm -rf x", "';'"),
    "NUL byte": (f"{DAY}\x00.json", "NUL"),
    "backslashes": ("..\\..\\windows", "backslash"),
    "look-alike digits": ("\uff12\uff10\uff11\uff13-05-01", "look-alike"),
    "look-alike dot-dot": ("\u2025/etc", "look-alike"),
    "look-alike solidus": (f"{DAY}\uff0f..", "look-alike"),
    "file URL": ("file:///etc/passwd", None),
    "absolute path": ("/etc/passwd", None),
}
IDS = list(PAYLOADS)


@pytest.fixture
def lake(tmp_path, monkeypatch):
    """An empty private lake: after every refusal it must still be empty."""
    root = tmp_path / "lake"
    monkeypatch.setenv("CONTRAIL_PROFILE", "local")
    monkeypatch.setenv("CONTRAIL_DATA_ROOT", str(root))
    yield root
    assert not root.exists() or not any(root.iterdir()), f"a refused input touched the lake: {list(root.rglob('*'))}"


def refused(call, *says: str, kind=inputs.BadInput) -> str:
    with pytest.raises(kind) as caught:
        call()
    message = str(caught.value)
    for words in says:
        assert words in message, f"{words!r} not in {message!r}"
    return message


@pytest.mark.parametrize("payload", IDS)
def test_days_from_params_and_the_dags_own_schemas_are_refused(payload, lake, dagbag, fault_report):
    from airflow.sdk.exceptions import ParamValidationError

    value, wrong = PAYLOADS[payload]
    wrong = wrong or "not of the form YYYY-MM-DD"
    for key, params in (("start", {"start": value}), ("end", {"start": DAY, "end": value}),
                        ("days", {"days": [DAY, value]})):
        refused(lambda: requested_days(params, None), f"param {key} {value!r}", wrong, "give YYYY-MM-DD")
    refused(lambda: days_or_stale({"end": value}, lambda: pytest.fail("stale() ran"), ""), "param end", wrong)
    features = dagbag.get_dag("contrail_features")
    refused(lambda: features.get_task("resolve_days").python_callable(params={"days": [value]}, dag_run=None),
            "param days", wrong)
    from contrail.training import tasks

    refused(lambda: tasks.resolve_window({"start": value}, "flights_delay"), "param start", wrong)
    cases = 6
    for dag_id, key in (("contrail_features", "start"), ("contrail_features", "end"), ("contrail_inference", "start"),
                        ("contrail_monitoring", "end"), ("contrail_training", "start")):
        params = copy.deepcopy(dagbag.get_dag(dag_id).params)  # what the UI and the REST API validate a trigger with
        with pytest.raises(ParamValidationError, match=f"param {key}"):
            params[key] = value
        cases += 1
    fault_report.add(SCENARIO, faults=1, cases=cases)


@pytest.mark.parametrize("payload", IDS)
def test_cli_dates_are_refused_before_anything_starts(payload, lake, capsys, fault_report):
    from contrail import local_run, scale

    value, wrong = PAYLOADS[payload]
    wrong = wrong or "not of the form YYYY-MM-DD"
    before = dict(os.environ)
    for main, argv, flag in ((local_run.main, ["--start", value], "--start"),
                             (local_run.main, ["--start", DAY, "--end", value], "--end"),
                             (scale.main, ["--scale", "2", "--start", value], "--start")):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and f"{flag} {value!r} is not a date" in err and wrong in err, err
    assert dict(os.environ) == before  # refused before the deployment's environment was even loaded
    fault_report.add(SCENARIO, faults=1, cases=3)


@pytest.mark.parametrize("payload", IDS)
def test_table_and_model_names_are_refused(payload, lake, dagbag, monkeypatch, fault_report):
    from airflow.sdk.exceptions import ParamValidationError

    from contrail.registry import promotion
    from contrail.training.model import model_name

    value, wrong = PAYLOADS[payload]
    refused(lambda: ingest.land(value, dt.date(2013, 5, 1)), f"table {value!r}", "not one of flights, weather")
    wrong = wrong or "holds '/'"  # a name is one path segment
    refused(lambda: promotion.rollback(value), f"the model to roll back {value!r}", wrong, "use letters, digits")
    refused(lambda: promotion.promote(value, "1"), "the model to promote", wrong, "use letters, digits")
    if "\x00" not in value:  # the environment cannot hold a NUL
        monkeypatch.setenv("CONTRAIL_MODEL_NAME", value)
        refused(model_name, "CONTRAIL_MODEL_NAME", wrong)
    params = copy.deepcopy(dagbag.get_dag("contrail_model_rollback").params)
    with pytest.raises(ParamValidationError, match="param model"):
        params["model"] = value
    fault_report.add(SCENARIO, faults=1, cases=5)


# storage settings: (value, profile, what the refusal says is wrong, whether it is wrong for any storage setting)
ROOTS = {
    "dot-dot in a folder": ("/srv/lake/../../etc", "local", "'..' segment", True),
    "dot-dot in a bucket URL": ("s3://bucket/lake/../other", "aws", "'..' segment", True),
    "percent-encoded dot-dot": ("s3://bucket/%2e%2e/other", "aws", "percent-encoding", True),
    "fragment": ("s3://bucket/lake#x", "aws", "'#'", True),
    "query": ("s3://bucket/lake?versionId=1", "aws", "'?'", True),
    "semicolon": ("gs://bucket/lake;x", "gcp", "';'", True),
    "file URL in a cloud profile": ("file:///etc", "aws", "the scheme 'file://' is not one of s3://", False),
    "file URL naming a host": ("file://evil.example/share/lake", "local", "names no host", True),
    "the filesystem's root": ("file:///", "local", "filesystem's root", True),
    "absolute folder in a cloud profile": ("/etc/lake", "aws", "not a URL", False),
    "NUL byte": ("/srv/lake\x00/x", "local", "NUL", True),
    "backslashes": ("C:\\lake\\..\\x", "local", "backslash", True),
    "look-alike solidus": ("s3://bucket\uff0f..\uff0fx", "aws", "look-alike", True),
    "credentials in the URL": ("s3://AKIAEXAMPLE@bucket/lake", "aws", "holds credentials", True),
    "no bucket": ("s3:///lake", "aws", "missing", True),
    "empty segment": ("abfs://c@acct.dfs.core.windows.net/a//b", "azure", "empty path segment", True),
}


@pytest.mark.parametrize("payload", list(ROOTS))
def test_storage_settings_are_refused_when_the_profile_loads(payload, lake, monkeypatch, fault_report):
    from contrail.registry import tracking

    value, name, wrong, anywhere = ROOTS[payload]
    says = (f"bad storage URL {value!r} (CONTRAIL_DATA_ROOT", wrong, "expected file:///abs/dir, s3://bucket/prefix")
    if "\x00" in value:  # the environment cannot hold a NUL: only a Profile built in code can carry one
        refused(lambda: storage.check_url(value), *says)
        return fault_report.add(SCENARIO, faults=1, cases=1)
    monkeypatch.setenv("CONTRAIL_PROFILE", name)
    monkeypatch.setenv("CONTRAIL_DATA_ROOT", value)
    calls = (config.profile, storage.root, lambda: storage.location("raw/flights"))
    for call in calls + ((lambda: storage.check_url(value)),) * anywhere:  # file:// and folders fit the check alone
        refused(call, *says)
    cases = 3 + anywhere
    monkeypatch.setenv("CONTRAIL_PROFILE", "local")
    monkeypatch.setenv("CONTRAIL_DATA_ROOT", str(lake))
    if anywhere:  # the landing zone (and a landing source) may be on any storage; the MLflow artifacts are in a folder
        monkeypatch.setenv("CONTRAIL_LANDING_URL", value)
        refused(drops.ready_days, "(CONTRAIL_LANDING_URL)", wrong)
        cases += 1
    if anywhere and "://" in value:
        refused(lambda: get_source(value), "(CONTRAIL_SOURCE)", wrong)
        cases += 1
    if anywhere and ("://" not in value or value.startswith("file:")):
        monkeypatch.setenv("CONTRAIL_MLFLOW_ARTIFACTS", value)
        refused(lambda: tracking.artifact_root("postgresql://db/mlflow"), "(CONTRAIL_MLFLOW_ARTIFACTS)", wrong)
        cases += 1
    fault_report.add(SCENARIO, faults=1, cases=cases)


def test_good_settings_still_load_and_other_settings_are_checked(lake, monkeypatch, fault_report):
    assert config.profile().data_root == f"file://{lake}"
    for name, root in (("aws", "s3://bucket/lake/"), ("gcp", "gs://bucket/lake"),
                       ("azure", "abfs://c@acct.dfs.core.windows.net/lake")):
        monkeypatch.setenv("CONTRAIL_DATA_ROOT", root)
        assert config.profile(name).data_root == root.rstrip("/")
    monkeypatch.setenv("CONTRAIL_AWS_CONN_ID", "../aws_default")
    refused(lambda: config.profile("aws"), "CONTRAIL_AWS_CONN_ID '../aws_default'", "'..' segment")
    monkeypatch.setenv("CONTRAIL_DATA_ROOT", str(lake))
    monkeypatch.setenv("CONTRAIL_SPARK_CONNECT_PORT", "15102/;token=x")
    refused(lambda: config.profile("local"), "CONTRAIL_SPARK_CONNECT_PORT='15102/;token=x'", "a number from 1 to 65535",
            kind=config.ConfigError)
    fault_report.add(SCENARIO, faults=2, cases=6)


@pytest.mark.parametrize("payload", IDS)
def test_lake_paths_from_urls_and_plans_are_refused(payload, lake, fault_report):
    value, wrong = PAYLOADS[payload]
    relative = value if value.startswith(("/", "file:")) else f"reports/{value}"
    refused(lambda: cockpit.read_report(relative), f"report path {relative!r}", wrong or "absolute", kind=LookupError)
    with pytest.raises(inputs.BadInput, match="lake path of the training plan"):  # an XCom the REST API can edit
        with local.job_output({"path": f"training/jobs/{value}"}):
            pytest.fail("the plan's path was used")
    fault_report.add(SCENARIO, faults=1, cases=2)


# ---- models -----------------------------------------------------------------------------------------

MLMODEL = """flavors:
  python_function: {{loader_module: mlflow.sklearn, model_path: model.pkl, python_version: 3.11.7, env: {{}}}}
  sklearn: {{pickled_model: model.pkl, serialization_format: {fmt}, sklearn_version: 1.9.1, code: null}}
"""


class _Canary:
    """Unpickling this creates the canary file: proof that a pickle was read."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


def pickled_model(folder: Path, canary: Path, fmt: str = "cloudpickle") -> Path:
    import pickle

    folder.mkdir(parents=True)
    (folder / "MLmodel").write_text(MLMODEL.format(fmt=fmt))
    (folder / "model.pkl").write_bytes(pickle.dumps(_Canary(str(canary))))
    return folder


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A registered model with three hostile versions (files outside the store; pickled inside it; a '..' way
    out of it) and one saved as Contrail's training saves (skops, in the store; its MLmodel alone is enough here)."""
    from contrail.registry import tracking, trust

    client, tmp = tracking.client(), tmp_path_factory.mktemp("hostile-models")
    name, canary = f"hostile_{uuid.uuid4().hex[:8]}", tmp / "canary"
    store = Path(trust.trusted_roots(client)[0].removeprefix("file://"))
    client.create_registered_model(name)
    sources = {"outside the artifact store": pickled_model(tmp / "elsewhere", canary).as_uri(),
               "pickled inside the store": pickled_model(store / "hostile" / uuid.uuid4().hex, canary).as_uri(),
               "'..' out of the store": f"{store.as_uri()}/{os.path.relpath(tmp / 'elsewhere', store)}"}
    versions = {why: client.create_model_version(name, source, run_id=None).version for why, source in sources.items()}
    skops = store / "contrail" / uuid.uuid4().hex
    skops.mkdir(parents=True)
    (skops / "MLmodel").write_text(MLMODEL.format(fmt="skops"))
    good = client.create_model_version(name, skops.as_uri(), run_id=None).version
    return client, name, versions, str(good), canary


ENTRY_POINTS = ("promotion", "serving", "batch scoring", "local endpoint")


def load_through(entry: str, client, name: str, version: str) -> None:
    from contrail import scoring, serving
    from contrail.platforms import local_serving
    from contrail.registry import promotion

    if entry == "promotion":
        promotion.score(name, version, holdout=None, threshold=0.5)
    elif entry == "serving":
        serving.sample(name, version)
    elif entry == "batch scoring":  # the champion scores a never-scored day: the job's executors would load it
        client.set_registered_model_alias(name, "champion", version)
        scoring.job_plan([DAY], name)
    else:
        local_serving.deploy({"model": name, "version": version, "port": 1})


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_model_from_an_untrusted_place_is_never_loaded(entry, registry, lake, fault_report):
    from contrail.registry import trust

    client, name, versions, good, canary = registry
    for why, version in versions.items():
        says = "not 'skops'" if why.startswith("pickled") else "'..' segment" if "'..'" in why else "outside the artifact store"
        refused(lambda: load_through(entry, client, name, version), f"model {name} version {version}", says,
                "retrain and register it", kind=trust.UntrustedModel)
        assert not canary.exists(), f"{entry} unpickled the model {why}"
    assert trust.model_uri(name, good, client) == f"models:/{name}/{good}"  # Contrail's own kind still loads
    fault_report.add(SCENARIO, faults=len(versions), cases=len(versions) + 1)


def test_registration_refuses_a_pickled_job_output(tmp_path, lake, fault_report):
    from contrail.registry import trust
    from contrail.training import register

    canary = tmp_path / "canary"
    output = tmp_path / "job-output"
    pickled_model(output / "model", canary, fmt="pickle")
    (output / "result.json").write_text(json.dumps({"never": "read"}))
    refused(lambda: register.register(output, "flights_delay", {}, {"name": "contrail-train-x", "platform": "local"}),
            "the model of job contrail-train-x", "'pickle'", kind=trust.UntrustedModel)
    assert not canary.exists()
    fault_report.add(SCENARIO, faults=1, cases=1)
