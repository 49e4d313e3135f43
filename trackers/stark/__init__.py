"""STARK-S (spatial-only STARK) as an autoprune tracker family: ``trackers.get("stark")``."""
from __future__ import annotations

import trackers
from trackers.stark.family import FAMILY, StarkFamily
from trackers.stark.model import StarkModel

trackers.register(FAMILY)

__all__ = ["FAMILY", "StarkFamily", "StarkModel"]
