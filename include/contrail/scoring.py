"""Batch scoring: which days to score, with which model version, and the manifest of what scored them.

A day is scored by the model the retraining policy had made champion as of that day: the champion
after the last promotion decision on a model trained as of an earlier day (the promotion ledger
knows, `training/schedule.as_of`); days before the first model get the first champion. So a
nightly history and a backfill from scratch score every day with the same model, and when a
decision lands late (a backfill whose runs overlap) the days it covers are scored again. A run
can ask for today's champion instead (`use_current_champion`). Every prediction row names its
model version, and carries its features row's `degraded` mark (what auxiliary input it lacked); a
degraded day's manifest lists why (`contrail.quality.degraded`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from contrail import datasets, storage
from contrail.dates import parse_day
from contrail.quality import degraded, ledger

log = logging.getLogger(__name__)


class NoChampion(RuntimeError):
    """There is no champion model yet: scoring skips."""


def manifest_path(day: str):
    return storage.location(datasets.SCORING_MANIFEST.partition(parse_day(day))) / "model.json"


def read_manifest(day: str) -> dict | None:
    path = manifest_path(day)
    return json.loads(path.read_text()) if path.exists() else None


def stale_days() -> list[str]:
    """Days that passed quality whose features are newer than their predictions (or have none), or whose
    predictions are not by their model as of the day (a decision landed since)."""
    from contrail.training import policy
    from contrail.training.model import model_name

    built = storage.partition_mtimes(storage.location(datasets.FEATURES.path))
    scored = storage.partition_mtimes(storage.location(datasets.PREDICTIONS.path))
    events = policy.decisions(model_name())
    stale = sorted(day for day, when in built.items() if day not in scored or scored[day] <= when
                   or (events and (read_manifest(day) or {}).get("model_version") != policy.as_of(day, model_name(), events)))
    return ledger.usable_days("features", stale)[0]


def plan(days: list[str], model_name: str | None = None, use_current_champion: bool = False) -> dict[str, list[str]]:
    """Model version -> the days it scores."""
    from contrail.registry import promotion, tracking
    from contrail.training.model import model_name as default_name

    from contrail.training import policy

    model_name = model_name or default_name()
    champion = promotion.alias_version(tracking.client(), model_name, "champion")
    events = policy.decisions(model_name)
    groups: dict[str, list[str]] = {}
    for day in days:
        version = champion if use_current_champion or not events else policy.as_of(day, model_name, events)
        if version is None:
            raise NoChampion(f"model {model_name} has no champion yet, so {day} cannot be scored; "
                             "it will be when a model is promoted")
        groups.setdefault(str(version), []).append(day)
    return groups


def job_plan(days: list[str], model_name: str, use_current_champion: bool = False) -> dict[str, dict]:
    """The score job's --plan: model version -> the days it scores and its operating threshold; each version
    checked to be safe to load (registry/trust.py), as the job's executors will load it."""
    from contrail.registry import tracking, trust

    client = tracking.client()
    groups = plan(days, model_name, use_current_champion)
    for version in groups:
        trust.model_uri(model_name, version, client)
    return {version: {"days": group, "threshold": float(client.get_model_version(model_name, version).tags.get("contrail.threshold", "0.5"))}
            for version, group in groups.items()}


def job_arguments(days: list[str], model_name: str | None = None, use_current_champion: bool = False) -> list[str]:
    """The arguments of spark_jobs/score_features.py for `days` (each must have passed quality)."""
    from contrail.registry import tracking
    from contrail.training.model import model_name as default_name

    model_name = model_name or default_name()
    ledger.require_usable("features", days)
    return ["--features", storage.spark_uri(datasets.FEATURES.path), "--predictions", storage.spark_uri(datasets.PREDICTIONS.path),
            "--model-name", model_name, "--tracking-uri", tracking.tracking_uri(),
            "--plan", json.dumps(job_plan(days, model_name, use_current_champion), sort_keys=True)]


def scored_version(day: str) -> tuple[str, str, int]:
    """(model name, version, rows) of a day's predictions partition, read back from the lake."""
    partition = storage.location(datasets.PREDICTIONS.partition(parse_day(day)))
    frame = storage.read_parquet(partition, columns=["model_name", "model_version"])
    names, versions = set(frame["model_name"]), set(frame["model_version"])
    if len(versions) != 1 or len(names) != 1:
        raise storage.StorageError(f"predictions dt={day} name {sorted(names)} v{sorted(versions)}: one model must score a day")
    return names.pop(), str(versions.pop()), len(frame)


def record(days: list[str]) -> dict[str, dict]:
    """After the score job: check each day's predictions against its features and write its manifest.

    Read from the lake, whichever platform ran the job: the manifest says which model scored the
    day, so a re-run or a backfill of it reproduces the same predictions."""
    result = {}
    for day in days:
        name, version, rows = scored_version(day)
        features = storage.parquet_rows(storage.location(datasets.FEATURES.partition(parse_day(day))))
        if rows != features:
            raise storage.StorageError(f"predictions dt={day} hold {rows} rows for {features} features rows: re-run scoring")
        path = manifest_path(day)
        path.parent.mkdir(parents=True, exist_ok=True)
        previous = read_manifest(day)
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        path.write_text(json.dumps({"dt": day, "model_name": name, "model_version": version, "rows": rows,
                                    "degraded": degraded.of(day), "first_scored_at": (previous or {}).get("first_scored_at") or now, "scored_at": now}, indent=1))
        result[day] = {"rows": rows, "model_version": version}
    log.info("scored %d day(s): %s", len(result), {d: f"v{r['model_version']} {r['rows']} rows" for d, r in result.items()})
    return result


def score(days: list[str], model_name: str | None = None, use_current_champion: bool = False) -> dict[str, dict]:
    """Score `days` here, on the local Spark server, and record them (tests and benchmarks; the DAG uses the platform's step)."""
    from contrail.platforms import local

    local.run_argv("score_features", job_arguments(days, model_name, use_current_champion))
    return record(days)
