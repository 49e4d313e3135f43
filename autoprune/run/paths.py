"""Absolute paths in search settings, fixed once in the main process.

Ray runs every trial in its own working directory, and a worker on another node has another
one again: a relative ``--runs-dir``, ``--data`` or storage file would name a fresh, empty
place there. Resolving them before any trial starts makes every process read and write the
same study, and ``run.json`` then records where things really were.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

_SQLITE = "sqlite:///"


def absolute_storage(url: str | None) -> str | None:
    """``journal:FILE`` and ``sqlite:///FILE`` with FILE absolute; server URLs unchanged."""
    if url is None:
        return None
    if url.startswith("journal:"):
        return "journal:" + str(Path(url[len("journal:"):]).expanduser().resolve())
    if url.startswith(_SQLITE) and not url.startswith(_SQLITE + "/") and url != _SQLITE + ":memory:":
        return _SQLITE + str(Path(url[len(_SQLITE):]).resolve())
    return url


def _absolute_file(value: str | None) -> str | None:
    return None if value is None else str(Path(value).expanduser().resolve())


def _absolute_space(value: str | None) -> str | None:
    # a family name (``siamrpn``) picks a built-in space; only a file is resolved
    if value is None or not (Path(value).suffix in (".yaml", ".yml") or Path(value).exists()):
        return value
    return _absolute_file(value)


def with_absolute_paths(settings):
    """``settings`` with its paths made to mean the same in any working directory."""
    return dataclasses.replace(settings, runs_dir=_absolute_file(settings.runs_dir), data=_absolute_file(settings.data),
                               checkpoint=_absolute_file(settings.checkpoint), space=_absolute_space(settings.space),
                               storage=absolute_storage(settings.storage))
