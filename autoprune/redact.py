"""Storage URLs without their passwords, wherever they are written or printed.

``run.json``, exports, cards and error lines get ``user:***@host``. The full URL stays in
memory and, so that processes this one starts (validation workers, Ray trials) and later
commands can reconnect, in the ``AUTOPRUNE_STORAGE_URL`` environment variable.
"""
from __future__ import annotations

import os
import re

MASK = "***"
URL_ENV = "AUTOPRUNE_STORAGE_URL"
# scheme://user:password@host — the password runs up to the last '@' before the host part
_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<password>[^\s/]*)@")


def mask_secrets(text: str | None) -> str | None:
    """``text`` with the password of every URL in it replaced by ``***``."""
    if text is None:
        return None
    return _PASSWORD.sub(lambda m: f"{m['head']}{MASK}@", text)


def has_password(url: str | None) -> bool:
    match = _PASSWORD.search(url or "")
    return bool(match) and match["password"] != MASK


def is_masked(url: str | None) -> bool:
    match = _PASSWORD.search(url or "")
    return bool(match) and match["password"] == MASK


def remember(url: str) -> None:
    """Keep a full URL for this process's children and the ones it starts (never on disk)."""
    if has_password(url):
        os.environ[URL_ENV] = url


def unmasked(url: str) -> str | None:
    """The full URL behind a masked one, from ``AUTOPRUNE_STORAGE_URL``; None when it is not there."""
    known = os.environ.get(URL_ENV)
    if known and mask_secrets(known) == url:
        return known
    return None


def without_password(url: str) -> str:
    """A masked URL with no password at all, for drivers that find it themselves (PGPASSWORD, ~/.pgpass)."""
    return _PASSWORD.sub(lambda m: m["head"][:-1] + "@", url)
