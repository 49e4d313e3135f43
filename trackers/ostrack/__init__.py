"""OSTrack-256 (vitb_256_mae_ce), the transformer family: ``trackers.get("ostrack")``."""
import trackers
from trackers.ostrack.family import FAMILY

trackers.register(FAMILY)

__all__ = ["FAMILY"]
