"""The delay model: which columns it reads, how it is built, and the hyperparameter search space.

The model is one scikit-learn Pipeline (ordinal-encode the categorical columns, then LightGBM), so
that the registered artifact takes the feature partition's columns as they are and the pyfunc
flavour (``predict_proba``) serves probabilities to batch scoring.

SEARCH_SPACE is data, not Optuna calls: the local tuner reads it, and the managed tuners
(SageMaker, Vertex AI, Azure ML sweeps) are meant to be generated from the same table.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

# The model inputs, in the order the pipeline sees them (kept equal to spark_jobs/build_features.py).
CATEGORICAL = ("carrier", "origin", "dest")
NUMERIC = (
    "hour", "minute", "weekday", "month", "day_of_year", "distance", "plane_age", "seats", "engines",
    "temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib",
)
FEATURES = (*CATEGORICAL, *NUMERIC)
# Inputs that hold one value for a whole day (drift monitoring reports them but does not judge them).
PER_DAY = ("weekday", "month", "day_of_year")
LABEL = "label"
MODEL_NAME = "flights_delay"
PIP_REQUIREMENTS = ("lightgbm==4.7.0", "scikit-learn==1.9.1", "pandas==2.3.3", "numpy")
# Types the skops serialisation must trust to load the pipeline (its own sklearn types it trusts already).
TRUSTED_TYPES = ("collections.OrderedDict", "lightgbm.basic.Booster", "lightgbm.sklearn.LGBMClassifier")


@dataclass(frozen=True)
class Param:
    kind: str  # "int" or "float"
    low: float
    high: float
    log: bool = False


SEARCH_SPACE = {
    "n_estimators": Param("int", 50, 400),
    "learning_rate": Param("float", 0.02, 0.3, log=True),
    "num_leaves": Param("int", 8, 128, log=True),
    "min_child_samples": Param("int", 10, 200, log=True),
    "colsample_bytree": Param("float", 0.5, 1.0),
    "subsample": Param("float", 0.5, 1.0),
    "reg_lambda": Param("float", 1e-3, 10.0, log=True),
}
DEFAULTS = {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 40,
            "colsample_bytree": 0.8, "subsample": 0.8, "reg_lambda": 1.0}


def model_name() -> str:
    """The registered model's name: CONTRAIL_MODEL_NAME, else flights_delay (read at call time, checked: it names
    lake folders and lock files)."""
    import os

    from contrail import inputs

    return inputs.name(os.environ.get("CONTRAIL_MODEL_NAME") or MODEL_NAME, "CONTRAIL_MODEL_NAME")


def check_params(params: dict) -> dict:
    """Defaults overlaid with `params`, each checked against the search space's bounds."""
    merged = {**DEFAULTS, **params}
    for name, value in merged.items():
        space = SEARCH_SPACE.get(name)
        if space is None:
            raise ValueError(f"unknown hyperparameter {name!r}; known: {', '.join(SEARCH_SPACE)}")
        if not space.low <= value <= space.high:
            raise ValueError(f"hyperparameter {name}={value} outside its range [{space.low}, {space.high}]")
    return merged


def build(params: dict, seed: int = 13):
    """An unfitted pipeline: categorical columns ordinal-encoded (unknown or missing -> -1), then LightGBM."""
    from lightgbm import LGBMClassifier
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    encode = ColumnTransformer(
        [("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1,
                                dtype=float), list(CATEGORICAL)),
         ("num", "passthrough", list(NUMERIC))],
        verbose_feature_names_out=False,
    )
    lgbm = LGBMClassifier(**check_params(params), subsample_freq=1, random_state=seed, n_jobs=2, verbose=-1)
    return Pipeline([("encode", encode), ("model", lgbm)])


def fit(params: dict, x, y, seed: int = 13):
    """A pipeline fitted on (x, y), LightGBM told which encoded columns are categorical."""
    return build(params, seed).fit(x, y, model__categorical_feature=list(range(len(CATEGORICAL))))


def out_of_fold(params: dict, frame, seed: int = 13, folds: int = 4):
    """Predictions for every row of `frame` (features, LABEL, `dt`) from models that did not see its day: the days
    split into `folds` consecutive blocks, each predicted by a model fitted on the other blocks with `params`.
    They stand for what the model's predictions look like on days it never saw (monitoring's reference)."""
    import numpy as np

    days = sorted(frame["dt"].unique())
    out = np.full(len(frame), np.nan)
    for block in np.array_split(np.asarray(days), min(folds, len(days))):
        inside = frame["dt"].isin(block).to_numpy()
        rest = frame[~inside]
        out[inside] = fit(params, inputs(rest), rest[LABEL].astype(int).to_numpy(), seed).predict_proba(inputs(frame[inside]))[:, 1]
    return out


def inputs(frame):
    """The model's input columns of a features frame, typed as the signature expects."""
    missing = [c for c in FEATURES if c not in frame.columns]
    if missing:
        raise ValueError(f"features frame lacks model inputs: {', '.join(missing)}")
    out = frame[list(FEATURES)].copy()
    for column in NUMERIC:
        out[column] = out[column].astype("float64")
    for column in CATEGORICAL:
        out[column] = out[column].astype(object)
    return out


def importances(pipeline) -> dict[str, float]:
    """Gain importance of each input, by name."""
    booster = pipeline.named_steps["model"].booster_
    gains = booster.feature_importance(importance_type="gain")
    return dict(zip(FEATURES, (float(g) for g in gains)))


@contextlib.contextmanager
def quiet_serialisation():
    """skops probes attributes of every loaded module when it saves or loads a model; inside an Airflow
    worker each probe of a deprecated Airflow module warns, about a thousand lines per call."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield
