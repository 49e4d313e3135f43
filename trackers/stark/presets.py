"""STARK presets as data: the published STARK-S50, the seed paper's Mini-STARK, a CPU-sized one."""
from __future__ import annotations

from trackers.base import Preset
from trackers.stark import arch

_RESNET50_TO_LAYER3 = {"stem": 64, "stages": [(256, 64, 3), (512, 128, 4), (1024, 256, 6)]}

_SPECS = {
    "s50": dict(
        description="STARK-S50 as published: ResNet-50 to layer3, d_model 256, 8 heads, 6+6 layers, FFN 2048, 128/320 crops",
        official=True,
        record=dict(**_RESNET50_TO_LAYER3, d_model=256, heads=8, ffn=2048, encoder_layers=6, decoder_layers=6,
                    head=(256, 128, 64, 32)),
    ),
    "mini": dict(
        description="Mini-STARK of the pruning paper: S50 backbone and head, d_model 96, 4 heads, 4+4 layers, FFN 768",
        official=False,
        record=dict(**_RESNET50_TO_LAYER3, d_model=96, heads=4, ffn=768, encoder_layers=4, decoder_layers=4,
                    head=(256, 128, 64, 32)),
    ),
    # Search factor 4 rather than 5: the target spans 2 cells of the 8x8 map instead of 1.6,
    # and a tighter search region keeps a briefly trained model off look-alikes (built-in
    # val AO 0.15 vs 0.07 after 2000 steps).
    "tiny": dict(
        description="CPU-sized STARK for the built-in data: narrow 1-2-2-block ResNet, d_model 64, 2 heads, "
                    "2+2 layers, 64/128 crops (search factor 4)",
        official=False,
        record=dict(stem=16, stages=[(32, 16, 1), (64, 32, 2), (128, 64, 2)], d_model=64, heads=2, ffn=128,
                    encoder_layers=2, decoder_layers=2, head=(64, 32, 16, 8), template_size=64, search_size=128,
                    search_factor=4.0, dropout=0.0),
    ),
    # The backbone of "tiny" doubled in width: its parts then weigh more as in S50 (the 7x7
    # stem is ~9 % of the frame, not ~20 %), so a 10x smaller child keeps a working stem. The
    # transformer is tiny's: a wider one (d_model 96, 3+3 layers) trained worse in the same
    # 2000 steps on the built-in data (val AO 0.08 vs 0.15).
    "small": dict(
        description="CPU-sized STARK with S50's proportions: 1-2-2-block ResNet (out 64/128/256), d_model 64, "
                    "2 heads, 2+2 layers, 64/128 crops (search factor 4)",
        official=False,
        record=dict(stem=16, stages=[(64, 32, 1), (128, 64, 2), (256, 128, 2)], d_model=64, heads=2, ffn=128,
                    encoder_layers=2, decoder_layers=2, head=(64, 32, 16, 8), template_size=64, search_size=128,
                    search_factor=4.0, dropout=0.0),
    ),
}

PRESETS: dict[str, Preset] = {
    name: Preset(name=name, arch=arch.make(**spec["record"]), description=spec["description"], official=spec["official"])
    for name, spec in _SPECS.items()
}
OFFICIAL = "s50"
DEFAULT = "tiny"
