"""Settings of a cloud platform, read from one place: each one an environment variable with a default
(or none), what it is for, and a clear error naming it when a step needs it and it is missing.

A platform module declares its settings as a tuple of `Setting`s; `Settings.from_env` reads them
all at once (when a task plans its step, never at DAG parse time), and `need(key)` returns a value
or raises ConfigError saying which variable to set and why.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from contrail.config import ConfigError


@dataclass(frozen=True)
class Setting:
    key: str
    env: str
    default: str | None
    help: str


class Settings:
    """The values of a platform's settings; missing ones fail when needed, naming the variable."""

    def __init__(self, table: tuple[Setting, ...], values: dict[str, str | None]):
        self._table = {s.key: s for s in table}
        self._values = values

    @classmethod
    def from_env(cls, table: tuple[Setting, ...], environ=None) -> "Settings":
        environ = os.environ if environ is None else environ
        return cls(table, {s.key: (environ.get(s.env) or "").strip() or s.default for s in table})

    def get(self, key: str) -> str | None:
        return self._values[key]

    def env(self, key: str) -> str:
        """The environment variable of `key` (for messages)."""
        return self._table[key].env

    def need(self, key: str) -> str:
        value = self._values[key]
        if not value:
            setting = self._table[key]
            raise ConfigError(f"{setting.env} is not set: {setting.help}")
        return value

    def number(self, key: str, kind=float):
        raw = self.need(key)
        try:
            return kind(raw)
        except ValueError:
            raise ConfigError(f"{self._table[key].env}={raw!r}: expected a {kind.__name__}") from None

    def flag(self, key: str) -> bool:
        raw = (self._values[key] or "").lower()
        if raw not in ("true", "false", "1", "0", "on", "off", "yes", "no"):
            raise ConfigError(f"{self._table[key].env}={raw!r}: expected true or false")
        return raw in ("true", "1", "on", "yes")

    def choice(self, key: str, options: tuple[str, ...]) -> str:
        value = self.need(key)
        if value not in options:
            raise ConfigError(f"{self._table[key].env}={value!r}: choose one of {', '.join(options)}")
        return value


def connection(conn_id: str, setting: str, secret: str):
    """The Airflow connection `conn_id` (named by `setting`), or a ConfigError saying where to define it."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise ConfigError(f"the Airflow connection {conn_id!r} ({setting}) does not exist: define it "
                          f"(AIRFLOW_CONN_{conn_id.upper()}, the UI, or the {secret})") from None


def table_markdown(table: tuple[Setting, ...]) -> str:
    """The settings as a Markdown table (what the README shows)."""
    rows = ["| variable | default | what for |", "|---|---|---|"]
    rows += [f"| `{s.env}` | {f'`{s.default}`' if s.default else '(required when used)'} | {s.help} |" for s in table]
    return "\n".join(rows)
