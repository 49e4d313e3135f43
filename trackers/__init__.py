"""Tracker families: one registry, one folder per family.

>>> import trackers
>>> trackers.names()
['ostrack', 'siamrpn', 'stark']
>>> family = trackers.get("siamrpn")
"""
from __future__ import annotations

import importlib
import importlib.util
import pkgutil

from autoprune.errors import ConfigError
from trackers.base import CropSpec, Preset, Tracker, TrackerFamily, TrackerModel

__all__ = ["CropSpec", "Preset", "Tracker", "TrackerFamily", "TrackerModel", "get", "names", "register"]

_REGISTRY: dict[str, TrackerFamily] = {}
_discovered = False


def register(family: TrackerFamily) -> TrackerFamily:
    """Add a family; a second family under one name is an error, not a silent overwrite."""
    if family.name in _REGISTRY and _REGISTRY[family.name] is not family:
        raise ValueError(f"tracker family {family.name!r} is registered twice")
    _REGISTRY[family.name] = family
    return family


def _discover() -> None:
    # Every sub-folder with an __init__ is a family; importing it registers it.
    global _discovered
    if _discovered:
        return
    _discovered = True
    for info in pkgutil.iter_modules(__path__):
        if info.ispkg:
            importlib.import_module(f"{__name__}.{info.name}")


def names() -> list[str]:
    _discover()
    return sorted(_REGISTRY)


def get(name: str) -> TrackerFamily:
    if name not in _REGISTRY and name.isidentifier() and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        importlib.import_module(f"{__name__}.{name}")  # only the family asked for: the others pull in heavy libraries
    if name not in _REGISTRY:
        _discover()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown tracker {name!r}; valid trackers: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]
