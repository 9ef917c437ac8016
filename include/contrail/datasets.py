"""Every dataset's name, place in the lake and Airflow Asset, defined once."""

from __future__ import annotations

from collections import namedtuple


class Dataset(namedtuple("Dataset", ("name", "path", "partitioned"), defaults=(True,))):
    """A partitioned dataset: `path` is relative to the profile's data root (name: str, path: str, partitioned: bool).

    Immutable; a namedtuple rather than a dataclass or typing.NamedTuple, whose class creation costs a DAG parse
    (every DAG file imports this module) about a millisecond."""

    __slots__ = ()

    @property
    def asset_uri(self) -> str:
        # Stable across machines and profiles: the asset names the dataset, the profile says where it
        # lives. The x- scheme is Airflow's custom-scheme form: it skips the providers' URI
        # normalizers, whose loading imports boto3 and the Google SDK into every DAG parse.
        return f"x-contrail://lake/{self.path}"

    def partition(self, day) -> str:
        """Relative path of one day's partition, e.g. raw/flights/dt=2013-01-01."""
        return f"{self.path}/dt={day:%Y-%m-%d}" if self.partitioned else self.path


RAW_FLIGHTS = Dataset("raw_flights", "raw/flights")
RAW_WEATHER = Dataset("raw_weather", "raw/weather")
RAW_PLANES = Dataset("raw_planes", "raw/planes")
RAW_AIRPORTS = Dataset("raw_airports", "raw/airports")
RAW_AIRLINES = Dataset("raw_airlines", "raw/airlines")
FEATURES = Dataset("features", "features")
# Per-partition row counts written by the feature job next to (not inside) the features dataset.
FEATURE_COUNTS = Dataset("feature_counts", "features_counts")

# Raw rows that passed their quality gate (what the feature job reads) and the rows it rejected.
VALIDATED_FLIGHTS = Dataset("validated_flights", "validated/flights")
VALIDATED_WEATHER = Dataset("validated_weather", "validated/weather")
QUARANTINE_FLIGHTS = Dataset("quarantine_flights", "quarantine/flights")
QUARANTINE_WEATHER = Dataset("quarantine_weather", "quarantine/weather")

DIMENSIONS = (RAW_PLANES, RAW_AIRPORTS, RAW_AIRLINES)
RAW = (RAW_FLIGHTS, RAW_WEATHER, *DIMENSIONS)
VALIDATED = {"flights": VALIDATED_FLIGHTS, "weather": VALIDATED_WEATHER}
QUARANTINE = {"flights": QUARANTINE_FLIGHTS, "weather": QUARANTINE_WEATHER}
BY_NAME = {d.name: d for d in (*RAW, *VALIDATED.values(), *QUARANTINE.values(), FEATURES, FEATURE_COUNTS)}  # lake datasets


def asset(dataset: Dataset):
    """The Airflow Asset of a dataset (imports airflow.sdk, which every DAG file has loaded)."""
    from airflow.sdk import Asset

    return Asset(name=dataset.name, uri=dataset.asset_uri)

# The registered delay model: an event each time its champion changes (promotion or rollback).
MODEL_CHAMPION = Dataset("model_champion", "registry/flights_delay", partitioned=False)
# Batch predictions of the champion, per day, and which model scored each day.
PREDICTIONS = Dataset("predictions", "predictions")
SCORING_MANIFEST = Dataset("scoring_manifest", "scoring")
# A retraining request from drift monitoring (its events carry the reason); training is scheduled on it.
RETRAIN_REQUEST = Dataset("retrain_request", "monitoring/retrain", partitioned=False)
