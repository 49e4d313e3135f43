"""Datasets checked before any work reads them, as `autoprune data check` does.

A bad image found mid-search fails trial after trial and buries the cause in tracebacks;
found first, it is one line naming the file. A split that passed is remembered in the cache
under a fingerprint of its files (path, size, modification time) and boxes, so the next
command only stats the files.
"""
from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path

from autoprune.cache import cache_dir
from autoprune.data.detect import open_split
from autoprune.data.sequence import Sequence, check_first_box, check_sequence
from autoprune.errors import DataError

CHECKS = 2  # bump when the checks change: a split that passed older checks is checked again


def fingerprint(sequences: list[Sequence]) -> str:
    digest = hashlib.sha256()
    for seq in sequences:
        digest.update(seq.name.encode())
        digest.update(seq.boxes.tobytes())
        for path in seq.frames:
            try:
                st = os.stat(path)
            except OSError:
                raise DataError(f"image {path}: no such file; restore it or remove its sequence") from None
            digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _marker(root: Path, split: str, count: int) -> Path:
    key = hashlib.sha256(f"{CHECKS}\0{root.resolve()}\0{split}\0{count}".encode()).hexdigest()[:24]
    return cache_dir("checked") / f"{key}.ok"


def checked_split(root, split: str, *, limit: int | None = None) -> list[Sequence]:
    """The split's (first ``limit``) sequences, every image header and box checked; DataError for the first problem."""
    sequences = open_split(root, split)[:limit]
    marker = _marker(Path(root), split, len(sequences))
    print_ = fingerprint(sequences)
    if marker.is_file() and marker.read_text() == print_:
        return sequences
    check_names(sequences, split, root)
    for seq in sequences:
        check_tracked_sequence(seq, split)
    tmp = marker.with_name(f".{marker.name}.{os.getpid()}")
    tmp.write_text(print_)
    tmp.replace(marker)  # whole or absent: processes checking the same split at once both succeed
    return sequences


def check_names(sequences: list[Sequence], split: str, root) -> None:
    """DataError if the split lists a sequence more than once (results are kept per name)."""
    repeated = sorted(name for name, n in Counter(seq.name for seq in sequences).items() if n > 1)
    if repeated:
        raise DataError(f"split {split!r} of {root} lists {', '.join(repeated[:5])} more than once; list each sequence once")


def check_tracked_sequence(seq: Sequence, split: str) -> None:
    """Every image header and box; in a split that is tracked (not train), also the first box trackers start from."""
    check_sequence(seq)
    if split != "train":
        check_first_box(seq)


def check_splits(root, splits: tuple[str, ...] | list[str]) -> None:
    for split in splits:
        checked_split(root, split)
