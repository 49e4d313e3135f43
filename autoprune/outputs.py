"""Where a command will write, checked before it starts work.

A read-only file system, or a regular file where a folder should be, would otherwise be
found minutes in, as a traceback, with part of the output already written.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from autoprune.errors import ConfigError


def check_writable(path: str | os.PathLike, option: str) -> None:
    """One ConfigError line unless ``path`` is (or can be made) a folder this process can write in."""
    path = Path(path)
    nearest = path
    while not nearest.exists() and nearest != nearest.parent:
        nearest = nearest.parent
    if not nearest.is_dir():
        where = "is a file" if nearest == path else f"is inside {nearest}, which is a file"
        raise ConfigError(f"{option} {path} {where}, not a folder; choose another {option}")
    try:  # the one test that answers for read-only mounts, permissions and ACLs alike; leaves nothing
        fd, probe = tempfile.mkstemp(prefix=".autoprune-write-check.", dir=nearest)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot write in {nearest} ({exc.strerror or exc}); choose another {option}") from None
