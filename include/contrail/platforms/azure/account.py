"""The storage account a step reads and writes: the lake's root, and the checks a plan makes before it starts
anything (a missing container fails the first task that needs it, naming the setting)."""

from __future__ import annotations

from urllib.parse import urlparse

from contrail.config import ConfigError
from contrail.platforms.settings import Settings


def lake_root() -> str:
    from contrail.config import profile

    return profile().data_root.rstrip("/")


def container_of(uri: str, setting: str) -> str:
    parsed = urlparse(uri)
    if parsed.scheme not in ("abfs", "abfss", "wasb", "wasbs") or not parsed.netloc:
        raise ConfigError(f"{setting}={uri!r}: expected abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PREFIX")
    return parsed.netloc.split("@", 1)[0]


def require_container(uri: str, setting: str, s: Settings) -> None:
    """The container of `uri` exists and the storage connection reaches it."""
    from contrail import storage

    container = container_of(uri, setting)
    conn_id = s.need("conn_id")
    try:
        found = storage.path(f"abfs://{container}/", conn_id).fs.exists(container)
    except Exception as exc:  # noqa: BLE001  (whatever the client raises, the setting is what to fix)
        raise ConfigError(f"{setting} names container {container!r}, which connection {conn_id!r} cannot reach "
                          f"({type(exc).__name__}: {exc}): fix {setting} or the connection") from None
    if not found:
        raise ConfigError(f"{setting} names container {container!r}, which does not exist: create it or fix {setting}")
