"""OSTrack-256 (vitb_256_mae_ce), the transformer family: ``trackers.get("ostrack")``."""
import trackers
from trackers.ostrack.family import OSTrackFamily, make_family

FAMILY = trackers.register(make_family())

__all__ = ["FAMILY", "OSTrackFamily", "make_family"]
