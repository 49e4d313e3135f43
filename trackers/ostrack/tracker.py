"""OSTrack's tracking loop over our model: template embedded at init, one track() per frame.

Crops are square, ``factor * sqrt(w*h)`` on a side, zero-padded; the box follows the
Hann-windowed peak of the centre map with the offset and size read at that cell, and no
smoothing. Coordinates are continuous pixels as in ``autoprune.geometry``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
import numpy as np
import torch

from autoprune.geometry import clip_box, context_side
from trackers.common.boxes import smooth_size
from trackers.common.crops import crop_tensor
from trackers.common.settings import SIZE_LR, Setting
from trackers.common.tracking import ModelTracker
from trackers.ostrack.head import decode_boxes


def hann_window(size: int) -> torch.Tensor:
    """OSTrack's centred 2-D cosine window [size, size] (zero just outside the map)."""
    k = torch.arange(1, size + 1, dtype=torch.float32)
    w = 0.5 * (1 - torch.cos(2 * torch.pi * k / (size + 1)))
    return w[:, None] * w[None, :]


def crop_box_to_image(box: Sequence[float], center: Sequence[float], side: float) -> np.ndarray:
    """A (cx, cy, w, h) box in fractions of a square crop -> xywh image pixels.

    The crop has side ``side`` image pixels and is centred at ``center`` (see ``crop_square``).
    """
    cx, cy, w, h = (float(v) * side for v in box)
    x0, y0 = float(center[0]) - side / 2.0, float(center[1]) - side / 2.0
    return np.array([x0 + cx - w / 2.0, y0 + cy - h / 2.0, w, h])


class OSTrackTracker(ModelTracker):
    """``init(image, box)`` then ``update(image) -> box``; images HxWx3 uint8 RGB, boxes xywh."""

    name = "OSTrack"
    # window_influence blends the map with the Hann window (1: OSTrack's plain product);
    # size_lr moves the box size that fraction of the way to each prediction (1: no smoothing).
    SETTINGS = {
        "window": Setting(bool),
        "clip_margin": Setting(float),
        "window_influence": Setting(float, within=lambda v: 0.0 <= v <= 1.0, expected="in [0, 1] (1: the plain product)"),
        "size_lr": SIZE_LR,
    }

    def configure(self, rec: Mapping[str, Any]) -> None:
        self.template_size, self.search_size = rec["template_size"], rec["search_size"]
        self.template_factor, self.search_factor = rec["template_factor"], rec["search_factor"]
        self.window = hann_window(rec["search_size"] // rec["patch_size"])
        self.box: np.ndarray | None = None

    def _crop(self, image: np.ndarray, side: float, out_size: int) -> torch.Tensor:
        return self.preprocess(crop_tensor(image, self._center(), side, out_size, pad="zero", device=self.device))

    def _center(self) -> tuple[float, float]:
        x, y, w, h = self.box
        return x + w / 2.0, y + h / 2.0

    def _side(self, factor: float) -> float:
        return factor * context_side(max(self.box[2], 1.0), max(self.box[3], 1.0), "area")

    @torch.inference_mode()
    def init(self, image: np.ndarray, box: Sequence[float]) -> None:
        self.box = np.asarray(box, dtype=np.float64).reshape(4)
        side = self._side(self.template_factor)
        self.cache = self.model.template(self._crop(image, side, self.template_size))

    @torch.inference_mode()
    def update(self, image: np.ndarray) -> np.ndarray:
        self._require_init()
        side = self._side(self.search_factor)
        out = self.model.track(self.cache, self._crop(image, side, self.search_size))
        score = out["score_map"]
        if self.hp["window"]:
            influence = self.hp["window_influence"]
            score = score * ((1.0 - influence) + influence * self.window.to(score.device))
        box = decode_boxes(score, out["size_map"], out["offset_map"])[0].double().cpu().numpy()
        located = crop_box_to_image(box, self._center(), side)
        if self.hp["size_lr"] < 1.0:
            located = smooth_size(located, self.box, self.hp["size_lr"])
        height, width = image.shape[:2]
        self.box = clip_box(located, width, height, min_size=self.hp["clip_margin"])
        return self.box.copy()
