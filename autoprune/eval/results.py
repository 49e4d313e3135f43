"""Result files in the got10k toolkit's GOT-10k layout, so its ``report`` reads ours.

    <out_dir>/<tracker_name>/<seq>/<seq>_001.txt   one line per frame: x,y,w,h (one file per repetition)
    <out_dir>/<tracker_name>/<seq>/<seq>_time.txt  seconds per frame, one column per repetition

got10k itself keeps results under ``<result_dir>/GOT-10k``: pass ``<result_dir>/GOT-10k`` as
``out_dir`` and ``ExperimentGOT10k(..., result_dir=<result_dir>)`` finds them.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from autoprune.checkpoint import atomic_write
from autoprune.errors import DataError

BOX_DECIMALS = 4  # boxes are scored at the precision they are written with


def sequence_dir(out_dir: str | Path, *, tracker_name: str, seq_name: str) -> Path:
    return Path(out_dir) / tracker_name / seq_name


def _run_files(folder: Path, seq_name: str) -> list[Path]:
    # the same files got10k's glob '<seq>_[0-9]*.txt' picks up
    pattern = re.compile(re.escape(seq_name) + r"_[0-9].*\.txt$")
    return sorted(p for p in folder.glob(f"{seq_name}_*.txt") if pattern.fullmatch(p.name))


def write_sequence_results(
    out_dir: str | Path, *, tracker_name: str, seq_name: str, boxes: Sequence[np.ndarray], times: Sequence[np.ndarray]
) -> Path:
    """Write one sequence's boxes and per-frame times (one entry per repetition); returns its folder.

    Older repetition files of the sequence are removed first so got10k never pools stale runs.
    """
    if len(boxes) != len(times) or not boxes:
        raise ValueError("need one times array per boxes array, and at least one repetition")
    folder = sequence_dir(out_dir, tracker_name=tracker_name, seq_name=seq_name)
    folder.mkdir(parents=True, exist_ok=True)
    for old in _run_files(folder, seq_name):
        old.unlink()
    for r, run in enumerate(boxes, start=1):
        data = np.asarray(run, dtype=np.float64).reshape(-1, 4)
        atomic_write(folder / f"{seq_name}_{r:03d}.txt", lambda tmp, d=data: np.savetxt(tmp, d, fmt=f"%.{BOX_DECIMALS}f", delimiter=","))
    columns = np.stack([np.asarray(t, dtype=np.float64).reshape(-1) for t in times], axis=1)
    atomic_write(folder / f"{seq_name}_time.txt", lambda tmp: np.savetxt(tmp, columns, fmt="%.8f", delimiter=","))
    return folder


def read_sequence_results(out_dir: str | Path, *, tracker_name: str, seq_name: str) -> tuple[list[np.ndarray], np.ndarray | None]:
    """The boxes of every repetition ([N,4] each) and the times ([N,R], or None if absent)."""
    folder = sequence_dir(out_dir, tracker_name=tracker_name, seq_name=seq_name)
    files = _run_files(folder, seq_name) if folder.is_dir() else []
    if not files:
        raise DataError(f"no results for sequence {seq_name!r} in {folder}; run the evaluation with this out_dir first")
    boxes = [np.loadtxt(f, delimiter=",", ndmin=2) for f in files]
    time_file = folder / f"{seq_name}_time.txt"
    times = np.loadtxt(time_file, delimiter=",", ndmin=2) if time_file.is_file() else None
    return boxes, times
