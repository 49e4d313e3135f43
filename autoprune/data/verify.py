"""Datasets checked before any work reads them, as `autoprune data check` does.

A bad image found mid-search fails trial after trial and buries the cause in tracebacks;
found first, it is one line naming the file. A split that passed is remembered in the cache
under a fingerprint of its files (path, size, modification time) and boxes, so the next
command only stats the files.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from autoprune.cache import cache_dir
from autoprune.data.detect import open_split
from autoprune.data.sequence import Sequence, check_sequence
from autoprune.errors import DataError


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
    key = hashlib.sha256(f"{root.resolve()}\0{split}\0{count}".encode()).hexdigest()[:24]
    return cache_dir("checked") / f"{key}.ok"


def checked_split(root, split: str, *, limit: int | None = None) -> list[Sequence]:
    """The split's (first ``limit``) sequences, every image header and box checked; DataError for the first problem."""
    sequences = open_split(root, split)[:limit]
    marker = _marker(Path(root), split, len(sequences))
    print_ = fingerprint(sequences)
    if marker.is_file() and marker.read_text() == print_:
        return sequences
    for seq in sequences:
        check_sequence(seq)
    tmp = marker.with_name(f".{marker.name}.{os.getpid()}")
    tmp.write_text(print_)
    tmp.replace(marker)  # whole or absent: processes checking the same split at once both succeed
    return sequences


def check_splits(root, splits: tuple[str, ...] | list[str]) -> None:
    for split in splits:
        checked_split(root, split)
