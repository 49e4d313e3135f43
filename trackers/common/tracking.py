"""The tracker interface, and the base of trackers driven by a family's network."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from autoprune.errors import AutoPruneError

if TYPE_CHECKING:
    from trackers.common.network import TrackerModel


class TrackerNotStarted(AutoPruneError, RuntimeError):
    """``update`` before ``init``: a mistake of the calling code, reported as a one-line error."""


class Tracker(ABC):
    """Single-object tracker: ``init`` on the first frame, ``update`` on every next one."""

    name: str = "tracker"

    @abstractmethod
    def init(self, image: np.ndarray, box: Sequence[float]) -> None:
        """Start tracking the target ``box`` (xywh) in ``image`` (HxWx3 uint8 RGB)."""

    @abstractmethod
    def update(self, image: np.ndarray) -> np.ndarray:
        """Return the target box (xywh, float) in the next ``image``."""


class ModelTracker(Tracker):
    """A tracker driven by a family's network, built one way for every family.

    ``preprocess`` turns 0..255 RGB crops into the network's input; ``hparams`` are settings
    the family has already checked (``TrackerSettings.resolve``) against the class's
    ``SETTINGS`` schema, so trackers never re-check.
    """

    SETTINGS: Mapping[str, Any] = {}  # setting name -> trackers.common.settings.Setting

    def __init__(self, model: "TrackerModel", *, preprocess: Callable[[torch.Tensor], torch.Tensor],
                 hparams: Mapping[str, Any], name: str | None = None) -> None:
        self.model = model.eval()
        self.device = next(model.parameters()).device  # looked up once, not on every frame
        self.preprocess = preprocess
        self.hp = dict(hparams)
        self.cache: tuple[torch.Tensor, ...] | None = None  # the template work done at init
        if name:
            self.name = name
        self.configure(model.arch)

    def configure(self, rec: Mapping[str, Any]) -> None:
        """Derive what the tracking loop needs from the model's record (windows, anchors, crop sizes)."""

    def _require_init(self) -> None:
        if self.cache is None:
            raise TrackerNotStarted(f"{self.name} tracker: call init(image, box) on the first frame before update(image)")
