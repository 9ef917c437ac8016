"""Online serving on the local profile: the champion behind `mlflow models serve`, checked by a smoke
request whose answer must be the registered model's own predictions; through the contrail_serving DAG."""

from __future__ import annotations

import pytest
import synthetic_features as synthetic
from contrail import serving
from contrail.platforms import local_serving
from contrail.registry import promotion
from contrail.training import run, window
from dag_checks import states

pytestmark = pytest.mark.airflow
NAME = "serving_test"


@pytest.fixture(scope="module")
def champion():
    candidate = run.train(window.split(synthetic.write_days("2013-10-01", 8)), model_name=NAME)
    assert promotion.promote(NAME, candidate["version"])["promoted"]
    yield candidate
    local_serving.stop(NAME)


@pytest.fixture
def serving_on(monkeypatch, champion):
    import emulators

    monkeypatch.setenv("CONTRAIL_MODEL_NAME", NAME)
    monkeypatch.setenv("CONTRAIL_SERVING", "on")
    monkeypatch.setenv("CONTRAIL_SERVING_PORT", str(emulators.free_port()))


def test_serving_is_off_by_default_and_every_task_says_so(dagbag, champion, monkeypatch):
    monkeypatch.setenv("CONTRAIL_MODEL_NAME", NAME)
    monkeypatch.delenv("CONTRAIL_SERVING", raising=False)
    local_serving.stop(NAME)  # none left by another test: with serving off, the run must start none
    done = dagbag.get_dag("contrail_serving").test()
    assert done.state == "success" and set(states(done).values()) == {"skipped"}
    assert local_serving.running(NAME) is None


def test_the_champion_is_served_and_answers_the_smoke_request_as_the_model_predicts(dagbag, serving_on, champion):
    done = dagbag.get_dag("contrail_serving").test()
    assert done.state == "success", states(done)
    server = local_serving.running(NAME)
    assert server is not None and server["version"] == champion["version"]
    rows, expected = serving.sample(NAME, champion["version"])
    assert local_serving.invoke({"port": server["port"]}, rows) == pytest.approx(expected, abs=1e-9)
    again = dagbag.get_dag("contrail_serving").test()  # the same champion again: the same server, not a second one
    assert again.state == "success" and local_serving.running(NAME)["pid"] == server["pid"]


def test_a_wrong_answer_fails_the_smoke_test_showing_both(champion, monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    class Wrong:
        @staticmethod
        def invoke(endpoint, rows):
            return [0.5] * len(rows)

    rows, expected = serving.sample(NAME, champion["version"])
    request = {"endpoint": {}, "model": NAME, "version": champion["version"], "rows": rows, "expected": expected}
    with pytest.raises(AirflowFailException, match=r"answered \[0.5, 0.5.*the registered model predicts \[0\."):
        serving.smoke_test(request, Wrong)
