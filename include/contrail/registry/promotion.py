"""Promote a challenger through the gate, or roll the champion back, safely under concurrency.

Both models are scored here, from their registered artifacts, on the challenger's holdout days (read
back from the lake), so the comparison is like for like and checks what would actually be served.
The champion is read, scored, compared and replaced while the promotion lock is held: two
promotions finishing at once are serialised, and the second is judged against the first's result.
"""

from __future__ import annotations

import logging
import tempfile

from contrail.failures import Deterministic
from contrail.quality import ledger as quality_ledger
from contrail import inputs
from contrail.registry import gate, ledger, locks, tracking, trust
from contrail.training import metrics, model, window

log = logging.getLogger(__name__)
CHAMPION, PREVIOUS, TAG = "champion", "previous", "contrail."


class PromotionError(Deterministic, RuntimeError):
    """A promotion or rollback cannot be carried out; the message says why."""


def alias_version(client, name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code) or "not found" in str(exc).lower():
            return None
        raise


def _version(client, name: str, version: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(name, str(version))
    except MlflowException as exc:
        raise PromotionError(f"model {name} version {version} is not in the registry at {tracking.shown_uri()}: {exc}") from exc


def decision_of(name: str, version: str) -> str | None:
    """What the gate decided about a version ("promoted" or "refused"), or None before a decision."""
    return _version(tracking.client(), name, version).tags.get(TAG + "decision")


def score(name: str, version: str, holdout, threshold: float) -> tuple[dict, dict]:
    """Holdout metrics and slice ROC AUC of a registered version, loaded through pyfunc as serving would."""
    import mlflow

    with tempfile.TemporaryDirectory(prefix="contrail-model-") as tmp, model.quiet_serialisation():
        loaded = mlflow.pyfunc.load_model(trust.model_uri(name, version), dst_path=tmp)
        p = loaded.predict(model.inputs(holdout))
    p = (p.to_numpy() if hasattr(p, "to_numpy") else p)[:, 1]
    y = holdout[model.LABEL].astype(int).to_numpy()
    return metrics.evaluate(y, p, threshold), metrics.slice_auc(holdout, p)


def _tags(mv) -> tuple[list[str], float]:
    days = [d for d in (mv.tags.get(TAG + "holdout_days") or "").split(",") if d]
    if not days or TAG + "threshold" not in mv.tags:
        raise PromotionError(f"model {mv.name} version {mv.version} has no {TAG}holdout_days/{TAG}threshold tags: "
                             "it was not registered by Contrail's training, so there is no holdout to judge it on")
    return days, float(mv.tags[TAG + "threshold"])


def promote(name: str, version: str, cfg: gate.GateConfig | None = None, lock_timeout_s: float = 600) -> dict:
    """Judge `version` against the current champion on its holdout; move the aliases only if the gate passes."""
    name = inputs.name(name, "the model to promote")  # before it names a lock file or a ledger folder
    cfg = cfg or gate.GateConfig.from_env()
    client = tracking.client()
    candidate = _version(client, name, version)
    holdout_days, threshold = _tags(candidate)
    _, refused_days = quality_ledger.usable_days("features", holdout_days)
    holdout = window.load(holdout_days)
    challenger, challenger_slices = score(name, str(version), holdout, threshold)
    with locks.promotion_lock(name, lock_timeout_s):
        champion = alias_version(client, name, CHAMPION)
        if champion == str(version):
            return {"model": name, "version": str(version), "promoted": True, "champion": champion,  # a re-run
                    "previous": alias_version(client, name, PREVIOUS), "metrics": challenger, "champion_metrics": None,
                    "reasons": [f"version {version} is already the champion (promoted earlier, nothing changed)"]}
        champion_figures = champion_slices = None
        if champion is not None:
            _, champion_threshold = _tags(_version(client, name, champion))
            champion_figures, champion_slices = score(name, champion, holdout, champion_threshold)
        decision = gate.decide(challenger, champion_figures, cfg, challenger_slices, champion_slices)
        if refused_days:  # the holdout's quality was revoked after training: never promote on it
            decision = gate.Decision(False, [f"holdout day(s) failed quality: {'; '.join(refused_days.values())}"]
                                     + decision.reasons)
        if decision.promote:
            if champion is not None:
                client.set_registered_model_alias(name, PREVIOUS, champion)
            client.set_registered_model_alias(name, CHAMPION, str(version))
        action = "promoted" if decision.promote else "refused"
        for key, value in {"decision": action, "decision_reasons": " | ".join(decision.reasons)[:4900],
                           "decided_against": champion or "none", "gate": repr(cfg)[:4900]}.items():
            client.set_model_version_tag(name, str(version), TAG + key, value)
        event = ledger.record(name, action, str(version), champion_before=champion,
                              champion_after=str(version) if decision.promote else champion, reasons=decision.reasons,
                              metrics=challenger, champion_metrics=champion_figures, holdout_days=holdout_days,
                              window=candidate.tags.get(TAG + "window"), due=candidate.tags.get(TAG + "due"))
    log.info("%s v%s: %s", name, version, decision.summary)
    return {"model": name, "version": str(version), "promoted": decision.promote, "champion": event["champion_after"],
            "previous": champion if decision.promote else alias_version(client, name, PREVIOUS),
            "reasons": decision.reasons, "metrics": challenger, "champion_metrics": champion_figures}


def rollback(name: str, reason: str = "manual rollback", lock_timeout_s: float = 600, request_id: str | None = None) -> dict:
    """Put the previous champion back; the one before it (from the ledger) becomes `previous`, if any.

    `request_id` (an Airflow run id) makes a retry of the same request a no-op instead of a second rollback."""
    name = inputs.name(name, "the model to roll back")  # before it names a lock file or a ledger folder
    client = tracking.client()
    with locks.promotion_lock(name, lock_timeout_s):
        last = (ledger.history(name) or [{}])[-1]
        if request_id and last.get("action") == "rolled_back" and last.get("request_id") == request_id:
            log.info("%s: rollback %s already done (champion v%s)", name, request_id, last["version"])
            return {"model": name, "champion": last["version"], "rolled_back": last["champion_before"],
                    "previous": alias_version(client, name, PREVIOUS), "reason": reason}
        champion = alias_version(client, name, CHAMPION)
        previous = alias_version(client, name, PREVIOUS)
        if champion is None:
            raise PromotionError(f"model {name} has no champion to roll back (registry {tracking.shown_uri()})")
        if previous is None or previous == champion:
            raise PromotionError(f"model {name} has no previous champion to roll back to (champion is v{champion})")
        client.set_registered_model_alias(name, CHAMPION, previous)
        before = ledger.champion_before(name, previous)
        if before and before not in (previous, champion):
            client.set_registered_model_alias(name, PREVIOUS, before)
        else:
            client.delete_registered_model_alias(name, PREVIOUS)
        client.set_model_version_tag(name, champion, TAG + "rolled_back", reason[:4900])
        ledger.record(name, "rolled_back", previous, champion_before=champion, champion_after=previous, reasons=[reason],
                      request_id=request_id)
    log.info("%s: rolled back champion v%s -> v%s (%s)", name, champion, previous, reason)
    return {"model": name, "champion": previous, "rolled_back": champion,
            "previous": before if before not in (None, previous, champion) else None, "reason": reason}
