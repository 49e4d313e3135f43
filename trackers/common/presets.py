"""Presets as data: a named architecture record, and the table a family's ``presets.py`` builds."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Preset:
    """A named architecture record (official full-size or small CPU-trainable)."""

    name: str
    arch: Mapping[str, Any]
    description: str
    official: bool = False


def preset_table(*presets: Preset) -> dict[str, Preset]:
    """Presets by name, in the order given; a name given twice is an error."""
    table: dict[str, Preset] = {}
    for preset in presets:
        if preset.name in table:
            raise ValueError(f"preset {preset.name!r} is listed twice")
        table[preset.name] = preset
    return table
