"""A tracking sequence: frame paths and annotations, images read only when asked for."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from autoprune.errors import DataError


@dataclass
class Sequence:
    """One video of one target.

    ``boxes`` is [N,4] xywh float (NaN rows where the dataset gives none, e.g. GOT-10k test
    after frame 0). ``absent`` marks frames where the target is not visible (GOT-10k
    absence.label, LaSOT full occlusion / out of view). ``cover`` is GOT-10k's visible
    ratio class 0..8 (None where the dataset has none). Frames load lazily.
    """

    name: str
    frames: list[Path]
    boxes: np.ndarray
    absent: np.ndarray | None = None
    cover: np.ndarray | None = None
    meta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        if self.absent is None:
            self.absent = np.zeros(len(self.boxes), dtype=bool)
        self.absent = np.asarray(self.absent, dtype=bool)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def visible(self) -> np.ndarray:
        """Frames with a usable box: annotated, not absent, positive size."""
        b = self.boxes
        ok = np.isfinite(b).all(axis=1) & (b[:, 2] > 0) & (b[:, 3] > 0) & ~self.absent
        return ok

    def image(self, index: int) -> np.ndarray:
        """Frame ``index`` as an HxWx3 uint8 RGB array (clear error if unreadable)."""
        return read_rgb(self.frames[index])


def read_rgb(path: Path | str) -> np.ndarray:
    path = Path(path)
    data = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if data is None:
        if not path.exists():
            raise DataError(f"image {path}: no such file")
        raise DataError(f"image {path}: unreadable or truncated image file")
    return cv2.cvtColor(data, cv2.COLOR_BGR2RGB)
