"""Datasets: GOT-10k / LaSOT / OTB / TrackingNet readers, the built-in dataset, training pairs.

    from autoprune.data import open_split, builtin_root
    val = open_split(builtin_root(), "val")          # list[Sequence], images load lazily

``autoprune.data.pairs`` (imported on first use, it needs torch) samples training pairs.
"""
from autoprune.data.builtin import builtin_root, builtin_split_root
from autoprune.data.detect import available_splits, detect_layout, open_split
from autoprune.data.sequence import FrameList, Sequence, check_sequence, read_rgb

__all__ = [
    "FrameList", "Sequence", "available_splits", "builtin_root", "builtin_split_root", "check_sequence", "detect_layout",
    "open_split", "pair_loader", "PairDataset", "read_rgb",
]


def __getattr__(name):
    # Keep `import autoprune.data` free of torch; pairs load when first asked for.
    if name in ("pair_loader", "PairDataset", "pairs"):
        import importlib

        pairs = importlib.import_module("autoprune.data.pairs")
        return pairs if name == "pairs" else getattr(pairs, name)
    raise AttributeError(f"module 'autoprune.data' has no attribute {name!r}")
