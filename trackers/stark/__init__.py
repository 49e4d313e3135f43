"""STARK-S (spatial-only STARK), the hybrid CNN/transformer family: ``trackers.get("stark")``."""
import trackers
from trackers.stark.family import FAMILY

trackers.register(FAMILY)

__all__ = ["FAMILY"]
