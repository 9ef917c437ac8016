"""Which models Contrail loads: registered versions whose files are in the project's artifact store, saved with skops.

Loading a model can run code: MLflow's `pickle` and `cloudpickle` formats run whatever their file holds
when it is read, and a version can be registered from any URI (`file:///tmp/x`, someone else's bucket).
Contrail's training saves its pipeline with skops, whose loader rebuilds only the types it is told to
trust (`training/model.py` TRUSTED_TYPES). Every place that loads a model asks here first, before
anything is downloaded or unpickled:

* `model_uri(name, version)`: ``models:/<name>/<version>`` once the name and version are well-formed, the
  version's files are inside the tracking store's artifact store (that of Contrail's experiment, or a
  database store's artifact folder) and its MLmodel says skops (promotion, serving, the score job, the
  SageMaker package);
* `check_folder(path, what)`: a model folder, a training job's output, whose MLmodel says skops
  (registration).

Anything else raises UntrustedModel, naming the model, where its files are and the fix.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from contrail import inputs
from contrail.failures import Deterministic
from contrail.registry import tracking

SAFE_FORMAT = "skops"
LOADER = "mlflow.sklearn"
FIX = "Contrail loads only models its training registered (skops, in the tracking store): retrain and register it"


class UntrustedModel(Deterministic, RuntimeError):
    """A model whose files are outside the artifact store, or that loading would unpickle; never loaded."""


def check_flavors(flavors: dict, what: str) -> None:
    """Refuse a model unless its MLmodel says: scikit-learn saved with skops, loaded by mlflow.sklearn."""
    saved = (flavors.get("sklearn") or {}).get("serialization_format")
    loader = (flavors.get("python_function") or {}).get("loader_module")
    if saved != SAFE_FORMAT or loader != LOADER:
        raise UntrustedModel(f"{what} is saved as {saved or 'no scikit-learn model'!r} (loader {loader!r}), not "
                             f"{SAFE_FORMAT!r} (loader {LOADER!r}): loading it could run any code its files hold. {FIX}")


def trusted_roots(client) -> list[str]:
    """Where the tracking store keeps the artifacts of Contrail's models."""
    uri = tracking.tracking_uri()
    roots = [tracking.artifact_root(uri).as_uri()] if tracking.database_store(uri) else []
    experiment = client.get_experiment_by_name(tracking.EXPERIMENT)
    return roots + ([experiment.artifact_location] if experiment is not None else [])


def check_location(location: str, roots: list[str], what: str) -> None:
    """Refuse `location` unless it lies inside one of `roots`, with no '..' or encoded trick on the way."""
    decoded = unquote(str(location))
    inside = [r for r in roots if decoded.startswith(unquote(r).rstrip("/") + "/")]
    wrong = inputs.problem(decoded) or (None if inside else f"it is outside the artifact store ({', '.join(roots) or 'none'})")
    if wrong:
        raise UntrustedModel(f"{what} has its files at {location!r}: {wrong}. {FIX}")


def model_uri(name: str, version, client=None) -> str:
    """``models:/<name>/<version>`` of a registered version that is safe to load (see the module's doc)."""
    from mlflow.models import get_model_info

    name = inputs.name(name, "model name")
    version = str(version)
    if not (version.isascii() and version.isdigit()):
        raise inputs.BadInput(f"model version {version!r} of {name} is refused: it is not a version number; give "
                              "the number the registry gave it, e.g. 3")
    client = client or tracking.client()
    what = f"model {name} version {version}"
    check_location(client.get_model_version_download_uri(name, version), trusted_roots(client), what)
    uri = f"models:/{name}/{version}"
    check_flavors(get_model_info(uri).flavors, what)
    return uri


def check_folder(folder, what: str) -> Path:
    """`folder` if the model saved there is safe to load (its MLmodel, read as YAML, says skops)."""
    from mlflow.models import Model

    folder = Path(folder)
    check_flavors(Model.load(str(folder)).flavors, f"{what} ({folder})")
    return folder
