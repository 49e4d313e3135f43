"""Reference trackers every learned tracker should beat: a static box and OpenCV's classics."""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import cv2
import numpy as np

from autoprune.errors import ConfigError
from trackers.base import Tracker

# classical OpenCV trackers that need no model file, in the order we fall back through
CLASSICAL_KINDS = ("MIL", "KCF", "CSRT", "MOSSE", "MedianFlow", "Boosting", "TLD")


class StaticBoxTracker(Tracker):
    """Answers the first box on every frame: the floor any tracker must clear."""

    name = "static-box"

    def init(self, image: np.ndarray, box: Sequence[float]) -> None:
        self._box = np.asarray(box, dtype=np.float64).reshape(4).copy()

    def update(self, image: np.ndarray) -> np.ndarray:
        return self._box.copy()


def _factory(kind: str):
    """OpenCV's constructor for a tracker kind, in the main namespace or ``cv2.legacy``."""
    for space in (cv2, getattr(cv2, "legacy", None)):
        if space is None:
            continue
        for attr in (f"Tracker{kind}_create", f"Tracker{kind.upper()}_create"):
            if hasattr(space, attr):
                return getattr(space, attr)
    return None


def available_kinds() -> list[str]:
    """Classical tracker kinds this OpenCV build provides."""
    return [k for k in CLASSICAL_KINDS if _factory(k) is not None]


def _int_rect(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    # OpenCV wants an integer rectangle of at least one pixel inside the image
    x = int(np.clip(round(box[0]), 0, max(width - 1, 0)))
    y = int(np.clip(round(box[1]), 0, max(height - 1, 0)))
    w = int(np.clip(round(box[2]), 1, max(width - x, 1)))
    h = int(np.clip(round(box[3]), 1, max(height - y, 1)))
    return x, y, w, h


class OpenCVTracker(Tracker):
    """A classical OpenCV tracker (MIL by default); keeps the last box when OpenCV loses the target.

    If ``kind`` is not in this OpenCV build the first available classical kind is used
    (with a warning); ``self.kind`` says which one runs.
    """

    def __init__(self, kind: str = "MIL") -> None:
        kinds = available_kinds()
        if not kinds:
            raise ConfigError(
                "this OpenCV build has no classical tracker (MIL, KCF, CSRT, ...); install opencv-python-headless>=4.5.1"
            )
        match = next((k for k in CLASSICAL_KINDS if k.lower() == kind.lower()), None)
        if match is None or match not in kinds:
            warnings.warn(f"OpenCV tracker {kind!r} is not available here; using {kinds[0]} (available: {', '.join(kinds)})", stacklevel=2)
            match = kinds[0]
        self.kind = match
        self.name = f"opencv-{match.lower()}"
        self._create = _factory(match)
        self._cv = None
        self._box = np.zeros(4)

    def init(self, image: np.ndarray, box: Sequence[float]) -> None:
        bgr = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
        self._box = np.asarray(box, dtype=np.float64).reshape(4).copy()
        self._cv = self._create()  # a fresh OpenCV object: they cannot be re-initialised reliably
        self._cv.init(bgr, _int_rect(self._box, bgr.shape[1], bgr.shape[0]))

    def update(self, image: np.ndarray) -> np.ndarray:
        if self._cv is None:
            raise ConfigError(f"{self.name}: call init(image, box) before update(image)")
        bgr = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
        ok, rect = self._cv.update(bgr)
        if ok:
            self._box = np.asarray(rect, dtype=np.float64).reshape(4)
        return self._box.copy()
