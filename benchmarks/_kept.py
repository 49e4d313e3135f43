"""Finished records of the long benchmarks, kept in the repository beside their results.

search_quality and proxy_fidelity take many CPU hours on the yardstick: more than one machine's
life. Their finished pieces (a study cell: one child's full-validation scores per sequence; a
random child's ground truth) are small JSON files, so they are kept under ``benchmarks/kept/``
and committed. A run on any clone then resumes from what earlier runs finished, and a run of
one family reports the others' finished cells too, instead of replacing them.

Large artefacts (supernets, fine-tuned children, ONNX graphs) stay in the cache: they are
remade on demand. ``$AUTOPRUNE_BENCH_KEPT`` points the store elsewhere.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

KEPT = Path(__file__).parent / "kept"


def kept_dir(*parts: str) -> Path:
    root = Path(os.environ.get("AUTOPRUNE_BENCH_KEPT") or KEPT)
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def link_kept(folder: Path, kept: Path) -> Path:
    """Make ``folder`` (a study's ``cells/``) the kept folder ``kept``, moving in what it already holds.

    The study writes its cells through the link, so each finished cell lands in the store the
    moment it is saved (an interrupted run loses only the cell it was in)."""
    folder = Path(folder)
    if folder.is_symlink():
        if folder.resolve() == kept.resolve():
            return folder
        folder.unlink()
    elif folder.is_dir():  # an older cache's cells: keep those the store lacks
        for file in folder.glob("*.json"):
            if not (kept / file.name).exists():
                shutil.copy2(file, kept / file.name)
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.symlink_to(kept.resolve(), target_is_directory=True)
    return folder
