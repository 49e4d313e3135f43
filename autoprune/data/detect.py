"""Recognise a dataset's layout from its folder and open one split of it.

Every layout module (got10k, lasot, otb, trackingnet) offers the same four things:
``NAME``, ``EXPECTED`` (a short description for messages), ``looks_like(root)``,
``splits(root)`` and ``read_split(root, split)``.
"""
from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

from autoprune.data import got10k, lasot, otb, trackingnet
from autoprune.data.sequence import Sequence
from autoprune.errors import DataError

# Checked in this order: the cheap, unambiguous marker files first.
LAYOUTS: dict[str, ModuleType] = {"got10k": got10k, "trackingnet": trackingnet, "lasot": lasot, "otb": otb}


def _check_root(root: Path) -> None:
    if not root.exists():
        raise DataError(f"dataset root {root} does not exist; pass the folder that holds the dataset")
    if not root.is_dir():
        raise DataError(f"dataset root {root} is a file; pass the folder that holds the dataset")


def _describe_contents(root: Path, limit: int = 8) -> str:
    with os.scandir(root) as entries:
        names = sorted(e.name + ("/" if e.is_dir() else "") for e in entries)
    if not names:
        return "it is empty"
    more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
    return "it holds " + ", ".join(names[:limit]) + more


def detect_layout(root: str | os.PathLike) -> str:
    """The layout key of ``root``: 'got10k', 'trackingnet', 'lasot' or 'otb'.

    Raises DataError naming the expected layouts and what the folder holds.
    """
    root = Path(root).expanduser()
    _check_root(root)
    for key, module in LAYOUTS.items():
        if module.looks_like(root):
            return key
    expected = "; ".join(module.EXPECTED for module in LAYOUTS.values())
    raise DataError(f"{root} is not a dataset root in a known layout (expected {expected}); {_describe_contents(root)}")


def _module(root: Path, layout: str | None) -> ModuleType:
    if layout is None:
        return LAYOUTS[detect_layout(root)]
    if layout not in LAYOUTS:
        raise DataError(f"unknown dataset layout {layout!r}; valid layouts: {', '.join(LAYOUTS)}")
    _check_root(root)
    return LAYOUTS[layout]


def available_splits(root: str | os.PathLike, *, layout: str | None = None) -> list[str]:
    """Split names that :func:`open_split` accepts for ``root``."""
    root = Path(root).expanduser()
    return _module(root, layout).splits(root)


def open_split(root: str | os.PathLike, split: str, *, layout: str | None = None) -> list[Sequence]:
    """Open one split of a GOT-10k, LaSOT, OTB or TrackingNet dataset as :class:`Sequence` objects.

    The layout is detected unless given ('got10k', 'lasot', 'otb', 'trackingnet'). Images
    are not read; boxes and labels are. Example::

        seqs = open_split("~/data/GOT-10k", "val")
    """
    root = Path(root).expanduser()
    module = _module(root, layout)
    sequences = module.read_split(root, split)
    if not sequences:
        raise DataError(f"{module.NAME} split {split!r} of {root} holds no sequences")
    return sequences
