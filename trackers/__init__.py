"""Tracker families: one registry, one folder per family.

>>> import trackers
>>> trackers.names()
['ostrack', 'siamrpn', 'stark']
>>> family = trackers.get("siamrpn")

A family's folder name is its registered name, so :func:`available` lists the families
without importing them (command-line help uses it; importing a family pulls in torch).
"""
from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from typing import TYPE_CHECKING

from autoprune.errors import ConfigError

if TYPE_CHECKING:
    from trackers.base import TrackerFamily

__all__ = ["CropSpec", "Preset", "Tracker", "TrackerFamily", "TrackerModel", "available", "get", "names", "register"]

SHARED = ("common",)  # sub-packages holding shared pieces, not families
_REGISTRY: dict[str, "TrackerFamily"] = {}
_discovered = False


def __getattr__(name: str):
    # The contract's classes load on first use: `import trackers` stays light for the CLI.
    if name in ("CropSpec", "Preset", "Tracker", "TrackerFamily", "TrackerModel"):
        from trackers import base

        return getattr(base, name)
    raise AttributeError(f"module 'trackers' has no attribute {name!r}")


def register(family: "TrackerFamily") -> "TrackerFamily":
    """Add a family; a second family under one name is an error, not a silent overwrite."""
    if family.name in _REGISTRY and _REGISTRY[family.name] is not family:
        raise ValueError(f"tracker family {family.name!r} is registered twice")
    _REGISTRY[family.name] = family
    return family


def available() -> list[str]:
    """The family folders under ``trackers/``, sorted, without importing any of them."""
    return sorted(info.name for info in pkgutil.iter_modules(__path__) if info.ispkg and info.name not in SHARED)


def _discover() -> None:
    # Every family folder registers its family when imported.
    global _discovered
    if _discovered:
        return
    _discovered = True
    for name in available():
        importlib.import_module(f"{__name__}.{name}")


def names() -> list[str]:
    _discover()
    return sorted(_REGISTRY)


def get(name: str) -> "TrackerFamily":
    if not isinstance(name, str):  # a record read from a file may hold anything there
        _discover()
        raise ConfigError(f"unknown tracker {name!r}; valid trackers: {', '.join(sorted(_REGISTRY))}")
    if (name not in _REGISTRY and name.isidentifier() and name not in SHARED
            and importlib.util.find_spec(f"{__name__}.{name}") is not None):
        importlib.import_module(f"{__name__}.{name}")  # only the family asked for: the others pull in heavy libraries
    if name not in _REGISTRY:
        _discover()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown tracker {name!r}; valid trackers: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]
