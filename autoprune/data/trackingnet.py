"""TrackingNet layout: ``root/TRAIN_<i>/frames/<seq>/<k>.jpg`` and ``root/TRAIN_<i>/anno/<seq>.txt``.

``TEST/`` has the same shape with only the first box of each sequence. Splits: ``train``
(every TRAIN_<i> chunk), one chunk by name (``TRAIN_3``), ``test`` and ``all``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from autoprune.data.sequence import Sequence, list_frames, read_boxes_file
from autoprune.errors import DataError

NAME = "TrackingNet"
EXPECTED = "TRAIN_<i>/ or TEST/ each with frames/ and anno/ (TrackingNet)"

_CHUNK = re.compile(r"TRAIN_(\d+)|TEST")


def _chunks(root: Path) -> list[str]:
    with os.scandir(root) as entries:
        names = [e.name for e in entries if e.is_dir() and _CHUNK.fullmatch(e.name)]
    names = [n for n in names if (root / n / "anno").is_dir() and (root / n / "frames").is_dir()]
    return sorted(names, key=lambda n: (n == "TEST", int(n[6:]) if n != "TEST" else 0))


def looks_like(root: Path) -> bool:
    """True if a TRAIN_<i> or TEST folder holds frames/ and anno/."""
    return bool(_chunks(root))


def splits(root: Path) -> list[str]:
    """train / test / all (as present) followed by every chunk name."""
    chunks = _chunks(root)
    named = []
    if any(c != "TEST" for c in chunks):
        named.append("train")
    if "TEST" in chunks:
        named.append("test")
    return named + ["all"] + chunks


def read_split(root: Path, split: str) -> list[Sequence]:
    """Sequences of ``split``, chunk by chunk, sorted by name within a chunk."""
    chunks = _chunks(root)
    chosen = {
        "train": [c for c in chunks if c != "TEST"],
        "test": [c for c in chunks if c == "TEST"],
        "all": chunks,
    }.get(split, [split] if split in chunks else None)
    if chosen is None:
        raise DataError(f"unknown TrackingNet split {split!r}; valid splits here: {', '.join(splits(root))}")
    sequences = []
    for chunk in chosen:
        anno_dir = root / chunk / "anno"
        with os.scandir(anno_dir) as entries:
            names = sorted(e.name[:-4] for e in entries if e.name.endswith(".txt"))
        for name in names:
            sequences.append(_read_sequence(root / chunk, name, first_only_ok=(chunk == "TEST")))
    return sequences


def _read_sequence(chunk_dir: Path, name: str, *, first_only_ok: bool) -> Sequence:
    frames = list_frames(chunk_dir / "frames" / name)
    if not frames:
        raise DataError(f"frame folder {chunk_dir / 'frames' / name} holds no .jpg frames")
    anno = chunk_dir / "anno" / f"{name}.txt"
    boxes = read_boxes_file(anno, len(frames), first_only_ok=first_only_ok)
    return Sequence(name, frames, boxes, meta={"chunk": chunk_dir.name}, anno_path=anno)
