"""Tracker settings: a family's named sets, the schema every set obeys, checked once.

A family names its sets (``"vot"``, ``"default"``...) and says how each key is read; a
tracker gets either a name or a mapping. Families whose mappings must be complete refuse a
missing key; families with ``partial=True`` fill the missing ones from the default set.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from autoprune.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    """How one key is read (``float``, ``bool``) and, optionally, the range it must lie in."""

    read: Callable[[Any], Any]
    within: Callable[[Any], bool] | None = None
    expected: str = ""  # the range, in words, for the error


# The box size moves this fraction of the way to each prediction (trackers/common/boxes.py:
# smooth_size); the trackers that smooth it read it the same way.
SIZE_LR = Setting(float, within=lambda v: 0.0 < v <= 1.0, expected="in (0, 1] (1: no smoothing)")


@dataclass(frozen=True)
class TrackerSettings:
    family: str
    schema: Mapping[str, Setting]
    named: Mapping[str, Mapping[str, Any]]
    default: str
    partial: bool = False  # a mapping may set some keys; the default set fills the rest

    def resolve(self, given: str | Mapping[str, Any] | None) -> dict[str, Any]:
        """The checked settings for a name (``None``: the default set) or a mapping."""
        if given is None:
            given = self.default
        if isinstance(given, str):
            if given not in self.named:
                raise ConfigError(f"unknown {self.family} tracker settings {given!r}; valid: {', '.join(sorted(self.named))}")
            given = self.named[given]
        keys = list(self.schema)
        unknown = [k for k in given if k not in self.schema]
        if self.partial:
            if unknown:
                raise ConfigError(f"unknown {self.family} tracker settings {sorted(unknown)}; valid: {sorted(keys)}")
            given = {**self.named[self.default], **given}
        missing = [k for k in keys if k not in given]
        if missing or unknown:
            raise ConfigError(f"{self.family} tracker settings need exactly {keys}; missing {missing}, unknown {unknown}")
        return {k: self._read(k, given[k]) for k in keys}

    def _read(self, key: str, value: Any) -> Any:
        setting = self.schema[key]
        value = setting.read(value)
        if setting.within is not None and not setting.within(value):
            raise ConfigError(f"{self.family} tracker setting {key} must be {setting.expected}, got {value!r}")
        return value
