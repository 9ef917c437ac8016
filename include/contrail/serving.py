"""Online serving of the champion: which version, and the smoke request it must answer correctly.

Serving is optional (`CONTRAIL_SERVING=on`). When the champion changes (a promotion or a rollback)
the profile deploys it (locally `mlflow models serve`; on AWS a SageMaker endpoint) and a smoke
request of real rows from its holdout is sent: the answer must equal, row for row, what the
registered model itself predicts for them, or the step fails showing both.
"""

from __future__ import annotations

import math
import os

SMOKE_ROWS = 5
TOLERANCE = 1e-6


def enabled() -> bool:
    value = os.environ.get("CONTRAIL_SERVING", "off").strip().lower()
    if value not in ("on", "off", "true", "false", "1", "0"):
        from contrail.config import ConfigError

        raise ConfigError(f"CONTRAIL_SERVING={value!r}: on or off")
    return value in ("on", "true", "1")


def sample(model: str, version: str) -> tuple[list[dict], list[float]]:
    """Real rows from the version's last holdout day, as JSON records, and the model's own P(late) for them."""
    import mlflow

    from contrail.registry import tracking, trust
    from contrail.training import model as delay_model, window

    uri = trust.model_uri(model, version)  # before anything is read for it
    mv = tracking.client().get_model_version(model, version)
    day = mv.tags["contrail.holdout_days"].split(",")[-1]
    frame = delay_model.inputs(window.load([day]).head(SMOKE_ROWS))
    with delay_model.quiet_serialisation():
        expected = mlflow.pyfunc.load_model(uri).predict(frame)
    expected = expected.to_numpy() if hasattr(expected, "to_numpy") else expected
    rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in frame.to_dict(orient="records")]
    return rows, [float(p) for p in expected[:, 1]]


def plan(dag_run, impl) -> dict:
    """The serve step's plan: skipped while serving is off or no model is champion."""
    from airflow.sdk.exceptions import AirflowSkipException

    from contrail.platforms import naming
    from contrail.registry import promotion, tracking
    from contrail.training.model import model_name

    if not enabled():
        raise AirflowSkipException("online serving is off (CONTRAIL_SERVING=on turns it on)")
    name = model_name()
    version = promotion.alias_version(tracking.client(), name, "champion")
    if version is None:
        raise AirflowSkipException(f"model {name} has no champion to serve yet")
    rows, expected = sample(name, version)
    planned = impl.plan_serving(name, version, naming.Names(dag_run.dag_id, "serve", dag_run.run_id, (f"v{version}",)))
    planned["smoke"] = {"endpoint": planned.pop("endpoint"), "model": name, "version": version, "rows": rows,
                        "expected": expected}
    return planned


def smoke_test(request: dict, impl) -> dict:
    """Send the sample rows to the endpoint and check the answer against the model's own predictions."""
    from airflow.sdk.exceptions import AirflowFailException

    got = impl.invoke(request["endpoint"], request["rows"])
    expected = request["expected"]
    worst = max((abs(g - e) for g, e in zip(got, expected)), default=math.inf)
    if len(got) != len(expected) or worst > TOLERANCE:
        raise AirflowFailException(f"the endpoint of {request['model']} v{request['version']} answered {got} for "
                                   f"{len(request['rows'])} rows; the registered model predicts {expected}")
    print(f"smoke request: {len(got)} rows answered as the registered model predicts them (max difference {worst:.2e})")
    return {"rows": len(got), "max_abs_diff": worst, "version": request["version"]}
