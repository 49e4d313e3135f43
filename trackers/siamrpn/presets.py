"""SiamRPN++ presets as data: the official r50_l234_dwxcorr record and small CPU-trainable ones.

``_stage(out, inner, n)`` only spells out ``n`` identical blocks; every record stays a
plain JSON-able dict.
"""
from __future__ import annotations

from typing import Any

from trackers.common.presets import Preset, preset_table

PYSOT_ANCHOR = {"stride": 8, "ratios": [0.33, 0.5, 1, 2, 3], "scales": [8]}


def _stage(out: int, inner: int, n: int) -> dict[str, Any]:
    return {"out": out, "blocks": [{"inner1": inner, "inner2": inner} for _ in range(n)]}


def _level(level: int, width: int) -> dict[str, Any]:
    return {"level": level, "neck": width, "cls": {"xcorr": width, "hidden": width},
            "loc": {"xcorr": width, "hidden": width}}


R50 = {
    "family": "siamrpn",
    "version": 1,
    "template_size": 127,
    "search_size": 255,
    "stem": 64,
    "stages": [_stage(256, 64, 3), _stage(512, 128, 4), _stage(1024, 256, 6), _stage(2048, 512, 3)],
    "template_crop": 7,
    "rpn": [_level(2, 256), _level(3, 256), _level(4, 256)],
    "anchor": PYSOT_ANCHOR,
}

# Small crops (63 / 127) give a 9x9 score map; anchors scale 4 (32 px) match the 32 px
# target a 63 px template crop holds at context 0.5.
SMALL_ANCHOR = {"stride": 8, "ratios": [0.33, 0.5, 1, 2, 3], "scales": [4]}

TINY = {
    "family": "siamrpn",
    "version": 1,
    "template_size": 63,
    "search_size": 127,
    "stem": 16,
    "stages": [_stage(32, 8, 1), _stage(64, 16, 1), _stage(128, 32, 1)],
    "template_crop": 7,
    "rpn": [_level(3, 64)],
    "anchor": SMALL_ANCHOR,
}

SMALL = {
    "family": "siamrpn",
    "version": 1,
    "template_size": 63,
    "search_size": 127,
    "stem": 24,
    "stages": [_stage(64, 16, 1), _stage(128, 32, 2), _stage(256, 64, 2)],
    "template_crop": 7,
    "rpn": [_level(2, 64), _level(3, 64)],
    "anchor": SMALL_ANCHOR,
}

PRESETS = preset_table(
    Preset("r50", R50, "official SiamRPN++ r50_l234_dwxcorr (pysot), 127/255 crops, 25x25 map", official=True),
    Preset("small", SMALL, "3-stage ResNet, levels 2+3, 63/127 crops, 9x9 map; trains on a CPU in minutes"),
    Preset("tiny", TINY, "3-stage ResNet with one block per stage, level 3 only, 63/127 crops; for tests"),
)
OFFICIAL = "r50"
DEFAULT = "small"
