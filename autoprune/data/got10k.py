"""GOT-10k layout: ``root/{train,val,test}/list.txt`` and one folder per sequence.

Each sequence folder holds ``00000001.jpg ...``, ``groundtruth.txt`` (``x,y,w,h`` per line;
the test split gives only the first line), ``absence.label``, ``cover.label``,
``cut_by_image.label`` (one integer per line) and ``meta_info.ini``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from autoprune.data.sequence import Sequence, list_frames, parse_flags, read_boxes_file, read_text
from autoprune.errors import DataError

NAME = "GOT-10k"
EXPECTED = "train/, val/ or test/ each with list.txt and one folder per sequence (GOT-10k)"
SPLITS = ("train", "val", "test")


def looks_like(root: Path) -> bool:
    """True if any of train/val/test holds a list.txt."""
    return any((root / split / "list.txt").is_file() for split in SPLITS)


def splits(root: Path) -> list[str]:
    """The splits present under ``root``."""
    return [split for split in SPLITS if (root / split / "list.txt").is_file()]


def read_split(root: Path, split: str) -> list[Sequence]:
    """Every sequence listed in ``root/split/list.txt``, in list order."""
    if split not in SPLITS:
        raise DataError(f"unknown GOT-10k split {split!r}; valid splits: {', '.join(SPLITS)}")
    split_dir = root / split
    list_file = split_dir / "list.txt"
    if not list_file.is_file():
        present = ", ".join(splits(root)) or "none"
        raise DataError(f"GOT-10k split {split!r} not found: {list_file} does not exist (splits present: {present})")
    names = [line.strip() for line in read_text(list_file).splitlines() if line.strip()]
    for name in names:  # a folder of this split: no path that reaches another split or outside the dataset
        if "/" in name or "\\" in name or "\0" in name or name in (".", ".."):
            raise DataError(f"{list_file}: {name!r} is not a sequence folder name; list one folder of {split_dir} per line")
    return [read_sequence(split_dir / name, first_only_ok=(split == "test")) for name in names]


def read_sequence(folder: Path, *, first_only_ok: bool = False) -> Sequence:
    """One GOT-10k sequence folder (labels and meta are optional)."""
    try:
        frames = list_frames(folder)
    except DataError:
        if not folder.exists():
            raise DataError(f"sequence folder {folder} is listed in {folder.parent / 'list.txt'} but does not exist") from None
        raise
    if not frames:
        raise DataError(f"sequence folder {folder} holds no .jpg frames")
    anno = folder / "groundtruth.txt"
    boxes = read_boxes_file(anno, len(frames), first_only_ok=first_only_ok)
    base = str(folder)  # plain strings: a Path per label file costs more than reading it
    absent = _labels(os.path.join(base, "absence.label"), len(frames))
    cover = _labels(os.path.join(base, "cover.label"), len(frames))
    meta_text = read_text(os.path.join(base, "meta_info.ini"), optional=True)
    meta = parse_meta_ini(meta_text) if meta_text else {}
    return Sequence(
        folder.name, frames, boxes,
        absent=None if absent is None else absent.astype(bool),
        cover=cover, meta=meta, anno_path=anno,
    )


def _labels(path: str, count: int) -> np.ndarray | None:
    text = read_text(path, optional=True)
    return None if text is None else parse_flags(text, path, count)


def parse_meta_ini(text: str) -> dict[str, str]:
    """``key: value`` lines of a GOT-10k meta_info.ini (the ``[METAINFO]`` header is skipped)."""
    meta = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("[", "#", ";")) or ":" not in line:
            continue
        key, value = line.split(":", 1)
        meta[key.strip()] = value.strip()
    return meta
