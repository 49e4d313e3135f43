"""The cache directory (built-in dataset, trained default parents): $AUTOPRUNE_CACHE or ~/.cache/autoprune."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    root = Path(os.environ.get("AUTOPRUNE_CACHE") or Path.home() / ".cache" / "autoprune")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
