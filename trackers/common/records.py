"""Checks of architecture records shared by all families: one error form, naming the entry.

Every message reads ``<family> architecture record: <where> must be <expected>, got <value>``
and stays on one line, so a bad record in a file or on the command line is one clear error.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NoReturn

from autoprune.errors import ConfigError

MAX_RECORD_INT = 1 << 16


class RecordCheck:
    """The checks of one family's records (``family`` and ``version`` are what it reads)."""

    def __init__(self, family: str, version: int) -> None:
        self.family = family
        self.version = version

    def error(self, text: str) -> ConfigError:
        return ConfigError(f"{self.family} architecture record: {text}")

    def fail(self, where: str, expected: str, got: Any) -> NoReturn:
        raise self.error(f"{where} must be {expected}, got {got!r}")

    def header(self, record: Any) -> dict[str, Any]:
        """Check the record is a mapping of this family and version; the normalised header."""
        if not isinstance(record, Mapping):
            self.fail("the record", "a mapping", type(record).__name__)
        if record.get("family") != self.family:
            self.fail("'family'", repr(self.family), record.get("family"))
        version = record.get("version")
        if isinstance(version, int) and not isinstance(version, bool) and version > self.version:
            raise self.error(f"version {version} is newer than this autoprune reads ({self.version}); upgrade autoprune")
        if version != self.version:
            self.fail("'version'", f"{self.version} (the version this autoprune reads)", version)
        return {"family": self.family, "version": self.version}

    def positive_int(self, value: Any, where: str) -> int:
        # the bound: no crop, width or depth of a tracker is that large, and a record asking for
        # one would exhaust memory when the model is built or first run, not fail clearly
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RECORD_INT:
            self.fail(where, f"a positive integer up to {MAX_RECORD_INT}", value)
        return int(value)

    def positive_float(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            self.fail(where, "a positive number", value)
        return float(value)

    def mapping(self, value: Any, where: str, keys: Iterable[str] | None = None) -> Mapping[str, Any]:
        """A mapping; with ``keys``, holding exactly those keys."""
        if not isinstance(value, Mapping):
            self.fail(where, "a mapping" if keys is None else f"a mapping with keys {sorted(keys)}", value)
        if keys is not None:
            keys = set(keys)
            if set(value) != keys:
                missing, extra = sorted(keys - set(value)), sorted(set(value) - keys)
                raise self.error(f"{where} has missing keys {missing} / unknown keys {extra}; expected {sorted(keys)}")
        return value

    def known_keys(self, value: Mapping[str, Any], allowed: Iterable[str], where: str = "") -> None:
        """Refuse a key outside ``allowed`` (optional keys may be absent)."""
        allowed = set(allowed)
        extra = sorted(set(value) - allowed)
        if extra:
            raise self.error(f"unknown key {where}{extra[0]!r}; valid keys: {', '.join(sorted(allowed))}")

    def entries(self, value: Any, where: str, *, min_len: int = 1) -> Sequence[Any]:
        """A list (or tuple) of at least ``min_len`` entries."""
        if not isinstance(value, (list, tuple)) or len(value) < min_len:
            expected = {0: "a list", 1: "a non-empty list"}.get(min_len, f"a list of at least {min_len} entries")
            self.fail(where, expected, value)
        return list(value)

    def widths(self, value: Any, where: str, count: int) -> list[int]:
        """Exactly ``count`` positive integers (a head branch's conv widths, a block's inner widths)."""
        if not isinstance(value, (list, tuple)) or len(value) != count:
            self.fail(where, f"a list of {count} positive integers", value)
        return [self.positive_int(w, f"{where}[{i}]") for i, w in enumerate(value)]
