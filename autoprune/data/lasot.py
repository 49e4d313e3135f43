"""LaSOT layout: ``root/<category>/<category>-<n>/img/*.jpg`` plus per-sequence text files.

``groundtruth.txt`` holds ``x,y,w,h`` per frame; ``full_occlusion.txt`` and
``out_of_view.txt`` hold one comma-separated 0/1 line; a frame is absent when either is 1.
Splits ``train`` / ``test`` follow the official ``testing_set.txt`` in ``root``; without it
only ``all`` exists.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from autoprune.data.sequence import Sequence, list_frames, parse_flags, read_boxes_file, read_text
from autoprune.errors import DataError

NAME = "LaSOT"
EXPECTED = "<category>/<category>-<n>/img plus groundtruth.txt (LaSOT)"
TEST_LIST = "testing_set.txt"


def _subdirs(folder: Path) -> list[os.DirEntry]:
    with os.scandir(folder) as entries:
        return sorted((e for e in entries if e.is_dir() and not e.name.startswith(".")), key=lambda e: e.name)


def _sequence_dirs(category: Path) -> list[tuple[int, Path]]:
    pattern = re.compile(rf"{re.escape(category.name)}-(\d+)")
    found = []
    for entry in _subdirs(category):
        match = pattern.fullmatch(entry.name)
        if match:
            found.append((int(match.group(1)), Path(entry.path)))
    return sorted(found)


def looks_like(root: Path) -> bool:
    """True if one of the first few folders holds ``<name>-<n>/img``."""
    for entry in _subdirs(root)[:3]:
        for _, seq_dir in _sequence_dirs(Path(entry.path))[:1]:
            if (seq_dir / "img").is_dir():
                return True
    return False


def splits(root: Path) -> list[str]:
    """``all`` always; ``train`` and ``test`` when testing_set.txt is present."""
    return ["train", "test", "all"] if (root / TEST_LIST).is_file() else ["all"]


def read_split(root: Path, split: str) -> list[Sequence]:
    """Sequences of ``split`` ('train', 'test' or 'all'), sorted by category and number."""
    valid = splits(root)
    if split not in valid:
        hint = f" ({TEST_LIST} is missing from {root})" if split in ("train", "test") else ""
        raise DataError(f"unknown LaSOT split {split!r}{hint}; valid splits here: {', '.join(valid)}")
    test_names = None
    if split != "all":
        test_names = {line.strip() for line in read_text(root / TEST_LIST).splitlines() if line.strip()}
    sequences = []
    for category in _subdirs(root):
        for _, seq_dir in _sequence_dirs(Path(category.path)):
            if test_names is not None and (seq_dir.name in test_names) != (split == "test"):
                continue
            sequences.append(read_sequence(seq_dir))
    return sequences


def read_sequence(folder: Path) -> Sequence:
    """One LaSOT sequence folder."""
    frames = list_frames(folder / "img")
    if not frames:
        raise DataError(f"sequence folder {folder / 'img'} holds no .jpg frames")
    anno = folder / "groundtruth.txt"
    boxes = read_boxes_file(anno, len(frames))
    absent = None
    for flag_name in ("full_occlusion.txt", "out_of_view.txt"):
        text = read_text(folder / flag_name, optional=True)
        if text is not None:
            flags = parse_flags(text, folder / flag_name, len(frames)).astype(bool)
            absent = flags if absent is None else absent | flags
    category = folder.name.rsplit("-", 1)[0]
    return Sequence(folder.name, frames, boxes, absent=absent, meta={"category": category}, anno_path=anno)
