"""One search at a time validates and exports a run; the others wait and reuse its work.

Searches started together on one study reach the end together; each would fine-tune the
same Pareto children and write the same export. An exclusive lock on a file in the run
folder (``flock``: one machine, or a shared file system that honours it) lets the first one
through; the next finds the validations recorded and the export made, and keeps them.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path

from autoprune.progress import console

LOCK_NAME = ".finish.lock"


@contextlib.contextmanager
def finishing_alone(run_dir: Path) -> Iterator[None]:
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOCK_NAME, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            console.print("another search on this study is validating its children; waiting to reuse its results",
                          highlight=False)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def already_exported(export: Path, trial: int, validation: dict) -> bool:
    """Whether ``export`` holds ``trial`` as validated by ``validation`` (another search wrote it)."""
    try:
        manifest = json.loads((export / "arch.json").read_text())
    except (OSError, ValueError):
        return False
    return manifest.get("trial") == trial and (manifest.get("metrics") or {}).get("full_ao") == validation.get("full_ao")
