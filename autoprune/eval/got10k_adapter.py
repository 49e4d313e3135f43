"""Run any autoprune tracker inside the got10k toolkit (its experiments and reports).

    from got10k.experiments import ExperimentGOT10k
    from autoprune.eval.got10k_adapter import AsGot10kTracker

    ExperimentGOT10k(root, subset="val").run(AsGot10kTracker(my_tracker, "mine"))
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from got10k.trackers import Tracker as Got10kTracker

from trackers.base import Tracker


def _rgb_array(image) -> np.ndarray:
    # got10k hands PIL images (already RGB); our trackers want HxWx3 uint8 RGB arrays
    if hasattr(image, "convert"):
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


class AsGot10kTracker(Got10kTracker):
    """A ``got10k.trackers.Tracker`` driving an autoprune tracker (or a factory of one,
    called at every ``init`` for a fresh tracker per sequence)."""

    def __init__(self, tracker: Tracker | Callable[[], Tracker], name: str, *, is_deterministic: bool = False) -> None:
        super().__init__(name=name, is_deterministic=is_deterministic)
        self._source = tracker
        self._factory = isinstance(tracker, type) or not (hasattr(tracker, "init") and hasattr(tracker, "update"))
        self._tracker: Tracker | None = None if self._factory else tracker

    def init(self, image, box) -> None:
        if self._factory:
            self._tracker = self._source()
        self._tracker.init(_rgb_array(image), np.asarray(box, dtype=np.float64).reshape(4))

    def update(self, image) -> np.ndarray:
        return np.asarray(self._tracker.update(_rgb_array(image)), dtype=np.float64).reshape(4)
