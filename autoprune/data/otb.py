"""OTB layout: ``root/<Seq>/img/*.jpg`` and ``groundtruth_rect.txt``.

Box files separate numbers by commas, tabs or spaces. Sequences with two targets carry
``groundtruth_rect.1.txt`` / ``.2.txt`` and become ``Jogging.1`` / ``Jogging.2`` (empty
files, such as Human4's first one, are skipped). A few sequences are annotated on a
sub-range of their frames only; :data:`FRAME_RANGES` lists them.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from autoprune.data.sequence import FrameList, Sequence, list_frames, parse_boxes, read_text
from autoprune.errors import DataError

NAME = "OTB"
EXPECTED = "<Seq>/img plus groundtruth_rect.txt (OTB)"
SPLITS = ("all", "test")

# From the OTB benchmark's sequence configuration (Wu, Lim, Yang, TPAMI 2015):
# name -> (first frame number, last frame number, leading annotation rows to skip).
FRAME_RANGES = {
    "David": (300, 770, 0),
    "Football1": (1, 74, 0),
    "Freeman3": (1, 460, 0),
    "Freeman4": (1, 283, 0),
    "Diving": (1, 215, 0),
    "BlurCar1": (247, 988, 0),
    "BlurCar3": (3, 359, 0),
    "BlurCar4": (18, 397, 0),
    "Tiger1": (6, 354, 5),
}

_ANNO = re.compile(r"groundtruth_rect(?:\.(\d+))?\.txt")


def _annotation_files(folder: Path) -> list[tuple[str | None, Path]]:
    with os.scandir(folder) as entries:
        found = [(m.group(1), Path(e.path)) for e in entries if (m := _ANNO.fullmatch(e.name))]
    return sorted(found, key=lambda item: (item[0] is not None, int(item[0] or 0)))


def _candidates(root: Path) -> list[Path]:
    with os.scandir(root) as entries:
        return sorted(Path(e.path) for e in entries if e.is_dir() and not e.name.startswith("."))


def looks_like(root: Path) -> bool:
    """True if one of the first few folders holds ``img/`` and a groundtruth_rect file."""
    return any((d / "img").is_dir() and _annotation_files(d) for d in _candidates(root)[:3])


def splits(root: Path) -> list[str]:
    """OTB is one evaluation set: ``all`` (alias ``test``)."""
    return list(SPLITS)


def read_split(root: Path, split: str) -> list[Sequence]:
    """Every annotated target of every sequence folder, sorted by name."""
    if split not in SPLITS:
        raise DataError(f"unknown OTB split {split!r}; OTB has one split: 'all' (alias 'test')")
    sequences = []
    for folder in _candidates(root):
        annos = _annotation_files(folder) if (folder / "img").is_dir() else []
        if not annos:
            continue
        frames = list_frames(folder / "img")
        for index, path in annos:
            text = read_text(path)
            if not text.strip():
                continue
            name = folder.name if index is None else f"{folder.name}.{index}"
            sequences.append(_read_target(name, folder.name, frames, path, text))
    return sequences


def _read_target(name: str, folder_name: str, frames: FrameList, anno: Path, text: str) -> Sequence:
    boxes = parse_boxes(text, anno, sep=None)
    skip = 0
    if folder_name in FRAME_RANGES:
        first, last, skip = FRAME_RANGES[folder_name]
        keep = [n for n in frames.names if _number(n) is not None and first <= _number(n) <= last]
        frames = FrameList(frames.folder, keep)
        boxes = boxes[skip:]
    if len(boxes) != len(frames):
        raise DataError(f"{anno}: has {len(boxes)} boxes but {frames.folder} has {len(frames)} frames to match")
    return Sequence(name, frames, boxes, anno_path=anno, anno_first_line=1 + skip)


def _number(filename: str) -> int | None:
    stem = filename.rsplit(".", 1)[0]
    return int(stem) if stem.isdigit() else None
