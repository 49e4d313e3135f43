"""SiamRPN++ (pysot r50_l234_dwxcorr), the CNN family: ``trackers.get("siamrpn")``."""
import trackers
from trackers.siamrpn.family import SiamRPNFamily, make_family

FAMILY = trackers.register(make_family())

__all__ = ["FAMILY", "SiamRPNFamily", "make_family"]
