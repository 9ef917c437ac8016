"""Strings from outside, checked once where they come in, before any of them becomes part of a path.

DAG params, CLI arguments, settings (CONTRAIL_DATA_ROOT, CONTRAIL_LANDING_URL, ...), landing marker
names, the days of asset events and the cockpit's URL paths are joined into lake paths, URIs and file
names. Each is checked here (days by `contrail.dates.parse_day`, which reports with `problem`):

* `name`: one path segment (a model, table or connection id), e.g. ``flights_delay``;
* `relative`: a path inside the lake, e.g. ``reports/drift/dt=2013-05-01/report.html``;
* `storage_url`: the root of a lake or landing zone, e.g. ``s3://bucket/prefix`` or ``/srv/lake``.

A refusal is a `BadInput` (a ConfigError: the task fails at once, a retry cannot change it) naming
the setting or param, what is wrong and the fix.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import urlsplit

from contrail.config import CLOUDS, ConfigError

NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"  # also the rollback DAG's Param pattern
_NAME = re.compile(NAME, re.ASCII)
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(@[A-Za-z0-9][A-Za-z0-9.-]*)?", re.ASCII)  # bucket, Azure container@account
URL_FORMS = ("file:///abs/dir, s3://bucket/prefix, gs://bucket/prefix or "
             "abfs://container@account.dfs.core.windows.net/prefix")


class BadInput(ConfigError):
    """A param, argument or setting is malformed or would leave its place; the message says which and the fix."""


def problem(text: str) -> str | None:
    """What makes `text` unfit for any part of a path, in words, or None."""
    for char in text:
        if ord(char) < 32 or ord(char) == 127:
            return f"it holds the control character U+{ord(char):04X}" + (" (NUL)" if char == "\0" else "")
    if "\\" in text:
        return "it holds a backslash, a path separator on Windows"
    if "%" in text:
        return "it holds '%': percent-encoding hides '..' and '/' (%2e%2e, %2f)"
    for char in "#?;":
        if char in text:
            return f"it holds {char!r}, which ends or splits a URL's path"
    for char in text:
        twin = unicodedata.normalize("NFKC", char)
        if twin != char:
            return f"it holds {char!r} (U+{ord(char):04X}), a look-alike of {twin!r}"
    if any(part in (".", "..") for part in text.split("/")):
        return "it has a '.' or '..' segment, which leaves its folder"
    return None


def _refuse(what: str, value, wrong: str, fix: str) -> BadInput:
    return BadInput(f"{what} {str(value)!r} is refused: {wrong}; {fix}")


def name(value, what: str) -> str:
    """`value` if it is one safe path segment: letters, digits, '_', '-', '.', starting with a letter or digit."""
    text = "" if value is None else str(value)
    if not _NAME.fullmatch(text):
        raise _refuse(what, text, problem(text) or _name_problem(text),
                      "use letters, digits, '_', '-' and '.', starting with a letter or digit (e.g. flights_delay)")
    return text


def _name_problem(text: str) -> str:
    if not text:
        return "it is empty"
    if "/" in text:
        return "it holds '/', which makes it a path"
    if len(text) > 128:
        return "it is longer than 128 characters"
    return "it holds other characters than letters, digits, '_', '-' and '.', or starts with one of '_-.'"


def one_of(value, options, what: str) -> str:
    """`value` if it is one of `options` (e.g. the tables of the lake)."""
    if value not in options:
        raise _refuse(what, value, f"it is not one of {', '.join(options)}", "choose one of them")
    return value


def relative(value, what: str, under: tuple[str, ...] = ("",)) -> str:
    """`value` if it is a path inside the lake below one of the folders `under` (each ending in '/')."""
    text = "" if value is None else str(value)
    wrong = problem(text)
    if wrong is None and (text.startswith("/") or "://" in text):
        wrong = "it is absolute; a path inside the lake is relative to its root"
    elif wrong is None and "" in text.split("/"):
        wrong = "it has an empty segment ('//' or a trailing '/')"
    elif wrong is None and not text.startswith(under):
        wrong = f"it is outside {', '.join(under)}"
    if wrong:
        below = f" below {', '.join(under)}" if any(under) else ""
        raise _refuse(what, text, wrong, f"give a path relative to the lake's root{below}, without '.', '..' or '//'")
    return text


def storage_url(value, setting: str, schemes: tuple[str, ...]) -> str:
    """The URL of a storage root given by `setting`, without a trailing '/'; a folder becomes file:///abs/folder.

    Refused: anything `problem` names, a scheme outside `schemes`, a file URL naming a host, a bucket or
    container with credentials, a port or odd characters, empty path segments, the filesystem's root. The
    message shows the URL without its password (and the password is masked in the log)."""
    from contrail import masking

    text = "" if value is None else str(value)
    wrong = problem(text) or _url_problem(text, schemes)
    if wrong:
        masking.mask_password(text)
        raise BadInput(f"bad storage URL {masking.redacted(text)!r} ({setting}): {wrong}; expected {URL_FORMS}")
    return text.rstrip("/") if "://" in text else f"file://{Path(text).resolve()}"


def _url_problem(text: str, schemes: tuple[str, ...]) -> str | None:
    from contrail import masking

    if "://" not in text:  # a folder
        if "file" not in schemes or not text.strip():
            return "it is not a URL"
        scheme, path = "file", text
    else:
        parts = urlsplit(text)
        scheme, path, netloc = parts.scheme, parts.path, masking.redacted(parts.netloc)
        if scheme not in schemes:
            return f"the scheme {scheme + '://'!r} is not one of {', '.join(s + '://' for s in schemes)}"
        if scheme == "file" and parts.netloc not in ("", "localhost"):
            return f"a file URL names no host ({netloc!r})"
        if scheme != "file" and (not _HOST.fullmatch(parts.netloc)
                                 or ("@" in parts.netloc and scheme not in CLOUDS["azure"][0])):
            return f"its bucket or container {netloc!r} is missing or holds credentials, a port or odd characters"
    if "" in path.rstrip("/").split("/")[1:]:
        return "it has an empty path segment ('//')"
    if scheme == "file" and not path.strip("/"):
        return "it names the filesystem's root"
    return None
