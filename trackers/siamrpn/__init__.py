"""SiamRPN++ (pysot r50_l234_dwxcorr), the CNN family: ``trackers.get("siamrpn")``."""
import trackers
from trackers.siamrpn.family import FAMILY

trackers.register(FAMILY)

__all__ = ["FAMILY"]
