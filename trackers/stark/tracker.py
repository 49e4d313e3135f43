"""The STARK-S tracking loop: template encoded once, every frame one search crop around the
last box, the predicted corners mapped back to the image and clipped."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from autoprune.geometry import box_center
from trackers.common.boxes import smooth_size
from trackers.common.crops import crop_tensor, record_crop_spec
from trackers.common.settings import SIZE_LR, Setting
from trackers.common.tracking import ModelTracker


def padding_mask(image_shape: tuple[int, ...], center, side: float, out_size: int) -> np.ndarray:
    """[out,out] bool: True where a ``crop_square`` crop samples outside the image (zero padding).

    Crop pixel u samples image coordinate ``cx - side/2 + (u + 0.5) * side/out`` (pixel
    centres), so validity is separable in x and y.
    """
    height, width = image_shape[:2]
    step = max(float(side), 1.0) / out_size
    u = (np.arange(out_size) + 0.5) * step
    xs = float(center[0]) - max(float(side), 1.0) / 2.0 + u
    ys = float(center[1]) - max(float(side), 1.0) / 2.0 + u
    valid_x = (xs >= 0) & (xs < width)
    valid_y = (ys >= 0) & (ys < height)
    return ~(valid_y[:, None] & valid_x[None, :])


def clip_with_margin(box_xywh: Sequence[float], width: int, height: int, margin: float) -> np.ndarray:
    """STARK's clip: keep at least ``margin`` pixels of the box inside the image and as its size."""
    x, y, w, h = (float(v) for v in box_xywh)
    x1, y1 = min(max(0.0, x), width - margin), min(max(0.0, y), height - margin)
    x2, y2 = min(max(margin, x + w), float(width)), min(max(margin, y + h), float(height))
    return np.array([x1, y1, max(margin, x2 - x1), max(margin, y2 - y1)])


def windowed_corners(score_maps: torch.Tensor, power: float) -> torch.Tensor:
    """[B,2,h,w] corner score maps -> boxes [B,4] xyxy in [0,1] of the crop, each map's softmax
    weighted by a Hanning window to the ``power`` before its soft-argmax.

    The window is a prior that the target stays near the crop's centre (the last box), as
    SiamRPN++ and OSTrack weight their score maps; power 0 is the head's own soft-argmax.
    Multiplying the probabilities keeps each corner's own peak where it is strong, unlike
    mixing the window in, which drags both corners to the centre and shrinks the box.
    """
    n = score_maps.shape[-1]
    hann = torch.hann_window(n + 2, periodic=False, dtype=score_maps.dtype, device=score_maps.device)[1:-1]
    prior = torch.outer(hann, hann).flatten() ** power
    cells = torch.arange(n, dtype=score_maps.dtype, device=score_maps.device) / n  # cell j at j/n of the crop
    xs, ys = cells.repeat(n), cells.repeat_interleave(n)
    coords = []
    for k in range(2):
        prob = score_maps[:, k].flatten(1).softmax(dim=1) * prior
        prob = prob / prob.sum(dim=1, keepdim=True)
        coords += [(prob * xs).sum(dim=1), (prob * ys).sum(dim=1)]
    return torch.stack(coords, dim=1)


class StarkTracker(ModelTracker):
    """``init(image, box)`` then ``update(image) -> box``; images HxWx3 uint8 RGB, boxes xywh."""

    name = "stark"
    # size_lr 1 takes every predicted size as is; below 1 the size moves part of the way.
    SETTINGS = {
        "mask_padding": Setting(bool),
        "margin": Setting(float),
        "size_lr": SIZE_LR,
        "window_power": Setting(float, within=lambda v: v >= 0.0, expected=">= 0 (0: no window)"),
    }

    def configure(self, rec: Mapping[str, Any]) -> None:
        self.spec = record_crop_spec(rec)
        self.mask_padding = self.hp["mask_padding"]
        self.margin = self.hp["margin"]
        self.size_lr = self.hp["size_lr"]
        self.window_power = self.hp["window_power"]
        self.state = np.zeros(4)

    def _crop(self, image: np.ndarray, box: Sequence[float], factor: float, size: int):
        w, h = float(box[2]), float(box[3])
        center = box_center(box)
        side = factor * math.sqrt(max(w * h, 1e-6))
        pixels = crop_tensor(image, center, side, size, pad="zero", device=self.device)
        mask = None
        if self.mask_padding:
            mask = torch.from_numpy(padding_mask(image.shape, center, side, size)).to(self.device)[None]
        return self.preprocess(pixels), mask, center, max(side, 1.0)

    @torch.no_grad()
    def init(self, image: np.ndarray, box: Sequence[float]) -> None:
        z, mask, _, _ = self._crop(image, box, self.spec.template_factor, self.spec.template_size)
        self.cache = self.model.template(z, mask)
        self.state = np.asarray(box, dtype=np.float64)

    @torch.no_grad()
    def update(self, image: np.ndarray) -> np.ndarray:
        self._require_init()
        x, mask, center, side = self._crop(image, self.state, self.spec.search_factor, self.spec.search_size)
        out = self.model.track(self.cache, x, mask)
        box = (out["boxes"] if self.window_power == 0 else windowed_corners(out["score_maps"], self.window_power))[0].tolist()
        height, width = image.shape[:2]
        located = self.locate(box, center, side)
        if self.size_lr < 1.0:
            located = smooth_size(located, self.state, self.size_lr)
        self.state = clip_with_margin(located, width, height, self.margin)
        return self.state.copy()

    @staticmethod
    def locate(box: Sequence[float], center: Sequence[float], side: float) -> np.ndarray:
        """Normalised xyxy in a search crop of ``side`` pixels around ``center`` -> image xywh."""
        x1, y1, x2, y2 = (float(v) * side for v in box)
        ox, oy = float(center[0]) - side / 2.0, float(center[1]) - side / 2.0
        return np.array([ox + x1, oy + y1, x2 - x1, y2 - y1])
