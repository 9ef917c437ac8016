"""Model promotion and rollback operators, thin over contrail.registry.

Importing this module costs only airflow.sdk: MLflow, scikit-learn and LightGBM load inside
execute(), so a DAG file that uses these operators still parses in milliseconds.
"""

from __future__ import annotations

from airflow.sdk import BaseOperator

DEFAULT_MODEL = "flights_delay"


def _publish(context, extra: dict) -> None:
    """Attach `extra` to the events of every outlet asset of the running task."""
    task = context["task"]
    for outlet in task.outlets or []:
        context["outlet_events"][outlet].extra = extra


class ModelPromotionOperator(BaseOperator):
    """Score a challenger and the current champion on the challenger's holdout and promote it through the gate.

    :param candidate: the training task's result (a dict with ``model`` and ``version``) or a version number.
    :param model_name: the registered model (default: the candidate's, else ``flights_delay``).
    :param min_value, min_improvement, tolerance, slice_tolerance: gate settings overriding
        ``contrail.registry.gate.GateConfig`` and its ``CONTRAIL_GATE_*`` variables.

    A promotion moves ``champion`` to the candidate and ``previous`` to the old champion, and the
    outlets' events carry the decision. A refusal records its reasons on the version and in the
    promotion ledger, and ends the task as skipped: nothing downstream sees a new champion.
    """

    template_fields = ("candidate", "model_name")
    ui_color = "#d9f2e6"

    def __init__(self, *, candidate, model_name: str | None = None, min_value: float | None = None,
                 min_improvement: float | None = None, tolerance: float | None = None,
                 slice_tolerance: float | None = None, lock_timeout_s: float = 600, **kwargs):
        super().__init__(**kwargs)
        self.candidate, self.model_name = candidate, model_name
        self.gate_overrides = {"min_value": min_value, "min_improvement": min_improvement, "tolerance": tolerance,
                               "slice_tolerance": slice_tolerance}
        self.lock_timeout_s = lock_timeout_s

    def execute(self, context):
        from airflow.sdk.exceptions import AirflowSkipException

        from contrail.registry import gate, promotion

        candidate = self.candidate
        if not candidate:
            raise ValueError("ModelPromotionOperator got no candidate: the training task returned nothing")
        name = self.model_name or (candidate.get("model") if isinstance(candidate, dict) else None) or DEFAULT_MODEL
        version = str(candidate["version"] if isinstance(candidate, dict) else candidate)
        result = promotion.promote(name, version, gate.GateConfig.from_env(**self.gate_overrides), self.lock_timeout_s)
        verdict = "PROMOTED" if result["promoted"] else "REFUSED"
        self.log.info("%s %s v%s (champion now v%s):\n  %s", verdict, name, version, result["champion"],
                      "\n  ".join(result["reasons"]))
        if not result["promoted"]:
            raise AirflowSkipException(f"{name} v{version} refused: " + "; ".join(result["reasons"]))
        _publish(context, {"model": name, "version": version, "previous": result["previous"],
                           "metrics": {k: round(v, 6) for k, v in result["metrics"].items()},
                           **({"training_cost_usd": candidate["cost_usd"]} if isinstance(candidate, dict) and "cost_usd" in candidate else {})})
        return result


class ModelRollbackOperator(BaseOperator):
    """Put the previous champion back behind ``champion`` (the ledger supplies the new ``previous``)."""

    template_fields = ("model_name", "reason")
    ui_color = "#f9e0d9"

    def __init__(self, *, model_name: str = DEFAULT_MODEL, reason: str = "manual rollback",
                 lock_timeout_s: float = 600, **kwargs):
        super().__init__(**kwargs)
        self.model_name, self.reason, self.lock_timeout_s = model_name, reason, lock_timeout_s

    def execute(self, context):
        from contrail.registry import promotion

        result = promotion.rollback(self.model_name, self.reason, self.lock_timeout_s, request_id=context["run_id"])
        self.log.info("ROLLED BACK %s: champion v%s -> v%s (%s)", self.model_name, result["rolled_back"],
                      result["champion"], self.reason)
        _publish(context, {"model": self.model_name, "version": result["champion"], "rolled_back": result["rolled_back"],
                           "reason": self.reason})
        return result
