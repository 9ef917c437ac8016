"""Batch scoring: which days to score, with which model version, and the manifest of what scored them.

A day is scored by the model recorded in its manifest (`scoring/dt=<day>/model.json`) when it has
one, so a re-run or a backfill of that day reproduces what its first (nightly) scoring produced;
a day never scored before, or a run that asks for it (`use_current_champion`), gets the current
champion. Every prediction row names its model version.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from contrail import datasets, platforms, storage
from contrail.dates import parse_day
from contrail.quality import ledger

log = logging.getLogger(__name__)


class NoChampion(RuntimeError):
    """There is no champion model yet: scoring skips."""


def manifest_path(day: str):
    return storage.location(datasets.SCORING_MANIFEST.partition(parse_day(day))) / "model.json"


def read_manifest(day: str) -> dict | None:
    path = manifest_path(day)
    return json.loads(path.read_text()) if path.exists() else None


def stale_days() -> list[str]:
    """Days whose features are newer than their predictions (or have none), and that passed quality."""
    built = storage.partition_mtimes(storage.location(datasets.FEATURES.path))
    scored = storage.partition_mtimes(storage.location(datasets.PREDICTIONS.path))
    stale = sorted(day for day, when in built.items() if day not in scored or scored[day] <= when)
    return ledger.usable_days("features", stale)[0]


def plan(days: list[str], model_name: str | None = None, use_current_champion: bool = False) -> dict[str, list[str]]:
    """Model version -> the days it scores."""
    from contrail.registry import promotion, tracking
    from contrail.training.model import model_name as default_name

    model_name = model_name or default_name()
    client = tracking.client()
    champion = promotion.alias_version(client, model_name, "champion")
    groups: dict[str, list[str]] = {}
    for day in days:
        manifest = None if use_current_champion else read_manifest(day)
        version = manifest["model_version"] if manifest else champion
        if version is None:
            raise NoChampion(f"model {model_name} has no champion yet, so {day} cannot be scored; "
                             "it will be when a model is promoted")
        groups.setdefault(str(version), []).append(day)
    return groups


def score(days: list[str], model_name: str | None = None, use_current_champion: bool = False) -> dict[str, dict]:
    """Score `days` (each must have passed quality) and write their manifests; returns day -> rows, version."""
    from contrail.registry import tracking
    from contrail.training.model import model_name as default_name

    model_name = model_name or default_name()
    ledger.require_usable("features", days)
    result = {}
    for version, group in plan(days, model_name, use_current_champion).items():
        mv = tracking.client().get_model_version(model_name, version)
        argv = ["--features", storage.spark_uri(datasets.FEATURES.path), "--predictions", storage.spark_uri(datasets.PREDICTIONS.path),
                "--model-uri", f"models:/{model_name}/{version}", "--model-name", model_name, "--model-version", version,
                "--threshold", mv.tags.get("contrail.threshold", "0.5"), "--tracking-uri", tracking.tracking_uri(),
                "--dates", ",".join(group)]
        counts = platforms.run_spark_job("score_features", argv)
        for day in group:
            path = manifest_path(day)
            path.parent.mkdir(parents=True, exist_ok=True)
            previous = read_manifest(day)
            path.write_text(json.dumps({
                "dt": day, "model_name": model_name, "model_version": version, "rows": counts[day],
                "first_scored_at": (previous or {}).get("first_scored_at") or dt.datetime.now(dt.timezone.utc).isoformat(),
                "scored_at": dt.datetime.now(dt.timezone.utc).isoformat()}, indent=1))
            result[day] = {"rows": counts[day], "model_version": version}
        log.info("scored %d day(s) with %s v%s: %s", len(group), model_name, version, counts)
    return result
