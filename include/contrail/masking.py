"""Secrets that Airflow's log masker does not know of, registered with it (`airflow.sdk.log.mask_secret`).

Airflow masks a connection's password and extra when a task reads the connection, and nothing else.
Two kinds of Contrail's secrets live elsewhere:

* a webhook whose address is the secret (Slack's incoming webhooks: `https://hooks.slack.com/services/T/B/X`
  is the host of the alerts connection): the error of an unreachable webhook quotes its address;
* a password inside a store URL (MLFLOW_TRACKING_URI, CONTRAIL_PROMOTION_LOCK_URL): errors name the store.

`mask_address` and `mask_password` register those parts with the masker, so that no log line shows them;
`redacted` is a URL to put into a message (an exception travels beyond the logs: an alert quotes it).
"""

from __future__ import annotations

import re
import sys
from urllib.parse import urlsplit

MIN_LENGTH = 5  # Airflow's masker ignores shorter values ([logging] min_length_masked_secret)


def mask(*values: str | None) -> None:
    """Register each value with Airflow's masker. Nothing to do where Airflow is not loaded (the training image,
    Spark, a CLI before it sets Airflow's environment): no Airflow log is written there, and importing Airflow
    here would read its settings too early (and cost seconds)."""
    values = [v for v in values if v and len(v) >= MIN_LENGTH]
    if not values or "airflow.sdk" not in sys.modules:
        return
    from airflow.sdk.log import mask_secret

    for value in values:
        mask_secret(value)


# scheme://user:password@ (scheme and // optional): the password is group 2
_USERINFO = re.compile(r"^((?:[A-Za-z][A-Za-z0-9+.-]*:)?(?://)?[^/?#@:]*:)([^/?#@]*)@")


def password(url: str) -> str | None:
    """The password of a URL's user info (`scheme://user:password@host/...`), or None."""
    found = _USERINFO.match(url)
    return found.group(2) if found and found.group(2) else None


def mask_address(url: str) -> None:
    """A webhook's address is its credential: mask the whole of it, its path and its query."""
    try:
        parts = urlsplit(url if "://" in url else f"//{url}")
    except ValueError:  # not splittable (Python refuses some look-alike characters): the whole of it, then
        return mask(url)
    mask(url, password(url), parts.path if parts.path.strip("/") else None, parts.query)


def mask_password(url: str) -> None:
    """Mask the password of a URL's user info, if it has one."""
    mask(password(url))


def redacted(url: str) -> str:
    """`url` with the password of its user info replaced by ***, for messages."""
    return _USERINFO.sub(r"\1***@", url, count=1) if password(url) else url


def mask_connection_address(conn_id: str) -> None:
    """Mask the address (host) of an Airflow connection whose address is the secret (an alerts webhook)."""
    from airflow.sdk import BaseHook

    host = BaseHook.get_connection(conn_id).host  # reading it also masks its password and extra
    if host:
        mask_address(host)
