"""Train one challenger here, in this process: the training job on the local lake, then its registration.

The local profile's training step and the tests use this; the cloud profiles run the same job
(`training/job.py`) in a managed container and register its output the same way (`register.py`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from contrail import datasets, storage
from contrail.training import job, model, register, window
from contrail.training.register import code_version  # noqa: F401  (kept where callers found it)


def local_features_dir() -> Path:
    """The features folder of the lake, which must be a local folder for an in-process job."""
    root = storage.root()
    if not storage.is_local(root):
        raise storage.StorageError(f"the in-process training job reads features from a local folder, not {root}: "
                                   "train with the profile's managed training job instead")
    return Path(root.path) / datasets.FEATURES.path


def train(split: window.Split, *, model_name: str = model.MODEL_NAME, tune: bool = False, n_trials: int = 20,
          timeout_s: float = 600, params: dict | None = None, seed: int = 13, job_name: str | None = None,
          due: str | None = None, reason: str = "manual window") -> dict:
    """Fit on `split`, log the run and register the model; returns the candidate (name, version, run, metrics, holdout).
    `due`: the data date it is trained as of (default: the window's last day), from which its model scores days."""
    from contrail.registry import tracking

    tracking.configure()  # fail fast on an unreachable server, before any training
    lineage = window.lineage(split.days)
    job_spec = job.spec(split.as_dict(), params=params, tune=tune, n_trials=n_trials, timeout_s=timeout_s, seed=seed)
    with tempfile.TemporaryDirectory(prefix="contrail-train-") as tmp:
        job.run(job_spec, local_features_dir(), Path(tmp))
        name = job_name or f"local-{Path(tmp).name}"
        return register.register(Path(tmp), model_name, lineage, {"name": name, "platform": "local",
                                                                     "due": due or split.days[-1], "reason": reason})
