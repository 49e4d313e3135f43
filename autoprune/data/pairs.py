"""Training pairs: a template crop and a search crop of one target, from two nearby frames.

Batches follow the convention of ``trackers/base.py``: ``template`` [B,3,Hz,Wz] and
``search`` [B,3,Hx,Wx] float RGB 0..255, ``template_box`` and ``search_box`` [B,4] xyxy in
crop pixels. Sample ``k`` depends only on ``(seed, k)``, so runs repeat exactly with any
number of loader workers.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence as SequenceABC
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from autoprune.data.augment import Augment
from autoprune.data.sequence import Sequence, check_box
from autoprune.errors import DataError
from autoprune.geometry import box_center, box_in_crop, context_side, crop_square

if TYPE_CHECKING:
    from trackers.base import CropSpec


class PairDataset(Dataset):
    """Template/search pairs drawn from ``sequences`` with a family's :class:`CropSpec`.

    Both frames come from one sequence, at most ``max_gap`` frames apart, with the target
    visible in each. ``augment`` (autoprune.data.augment) alters the pixels of both crops. The template crop is centred on the target (jitter
    ``template_shift_jitter`` / ``template_scale_jitter``, tiny by default); the search crop
    is centred on a point shifted by up to ``shift_jitter / 2`` target sizes (sqrt(w*h)) in
    x and y, kept so the target centre stays in the middle 80 % of the crop, and its side is
    scaled by ``exp(u * scale_jitter)``, u uniform in [-1, 1]. ``samples_per_epoch`` is the
    nominal length; every non-negative index is a valid, distinct sample.
    """

    def __init__(
        self,
        sequences: SequenceABC[Sequence],
        spec: CropSpec,
        *,
        samples_per_epoch: int = 10_000,
        max_gap: int = 100,
        seed: int = 0,
        scale_jitter: float = 0.25,
        shift_jitter: float = 3.0,
        template_scale_jitter: float = 0.05,
        template_shift_jitter: float = 0.1,
        augment: Augment | None = None,
    ) -> None:
        self.sequences = [seq for seq in sequences if seq.visible.any()]
        if not self.sequences:
            raise DataError("no sequence has a frame with a visible target; check the split's boxes and absence labels")
        self.visible = [np.flatnonzero(seq.visible) for seq in self.sequences]
        self.spec = spec
        self.samples_per_epoch = int(samples_per_epoch)
        self.max_gap = int(max_gap)
        self.seed = int(seed)
        self.search_jitter = (float(shift_jitter), float(scale_jitter))
        self.template_jitter = (float(template_shift_jitter), float(template_scale_jitter))
        self.augment = augment if augment is not None and augment.active else None

    def __len__(self) -> int:
        return self.samples_per_epoch

    def frame_pair(self, rng: np.random.Generator) -> tuple[Sequence, int, int]:
        """(sequence, template frame, search frame) drawn from ``rng``."""
        k = int(rng.integers(len(self.sequences)))
        seq, visible = self.sequences[k], self.visible[k]
        first = int(visible[rng.integers(len(visible))])
        near = visible[np.abs(visible - first) <= self.max_gap]
        others = near[near != first]
        pool = others if len(others) else near
        return seq, first, int(pool[rng.integers(len(pool))])

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, int(index)])
        seq, t_index, s_index = self.frame_pair(rng)
        spec = self.spec
        template, template_box = self.crop(rng, seq, t_index, spec.template_factor, spec.template_size, self.template_jitter)
        search, search_box = self.crop(rng, seq, s_index, spec.search_factor, spec.search_size, self.search_jitter)
        if self.augment is not None:  # drawn after the crops: the geometry of a sample never depends on it
            template, search = self.augment(template, rng), self.augment(search, rng)
        return {
            "template": _to_chw(template),
            "search": _to_chw(search),
            "template_box": torch.as_tensor(template_box, dtype=torch.float32),
            "search_box": torch.as_tensor(search_box, dtype=torch.float32),
        }

    def crop(self, rng, seq: Sequence, index: int, factor: float, out_size: int, jitter: tuple[float, float]):
        """Jittered square crop around frame ``index``'s target: (HxWx3 uint8, xyxy box in the crop)."""
        image = seq.image(index)
        check_box(seq, index, image.shape[1], image.shape[0])  # cheap here: the image is loaded anyway
        box = seq.boxes[index]
        shift, scale = jitter
        side = factor * context_side(box[2], box[3], self.spec.context) * math.exp(rng.uniform(-1, 1) * scale)
        offset = rng.uniform(-0.5, 0.5, 2) * shift * math.sqrt(box[2] * box[3])
        offset = np.clip(offset, -0.4 * side, 0.4 * side)
        cx, cy = box_center(box)
        centre = (cx + offset[0], cy + offset[1])
        crop = crop_square(image, centre, side, out_size, pad=self.spec.pad)
        return crop, box_in_crop(box, centre, side, out_size)


def _to_chw(crop: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1))).float()


class _CountingSampler(Sampler[int]):
    """0, 1, 2, ... forever: batch b holds samples b*B .. b*B+B-1 whatever the workers."""

    def __iter__(self) -> Iterator[int]:
        return itertools.count()


def pair_loader(
    sequences: SequenceABC[Sequence],
    spec: CropSpec,
    *,
    batch_size: int,
    seed: int = 0,
    workers: int = 0,
    max_gap: int = 100,
    pin_memory: bool = False,
    **options,
) -> Iterator[dict[str, torch.Tensor]]:
    """An endless iterator of training batches (see :class:`PairDataset` for ``options``).

    Frames are decoded and cropped in ``workers`` processes (in this one with 0); ``pin_memory``
    (for a CUDA device) puts batches in page-locked memory, so a non-blocking copy to the GPU
    overlaps the next step.

    Example::

        batches = pair_loader(open_split(builtin_root(), "train"), family.crop_spec(arch), batch_size=8)
        batch = next(batches)   # batch["search"].shape == (8, 3, Hx, Wx)
    """
    dataset = PairDataset(sequences, spec, max_gap=max_gap, seed=seed, **options)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=_CountingSampler(),
        num_workers=workers,
        # No worker_init_fn: samples carry their own seeds, torch already gives each worker
        # one thread, and changing OpenCV's thread pool in a forked worker can deadlock.
        persistent_workers=workers > 0,
        pin_memory=pin_memory and torch.cuda.is_available(),
    )
    return iter(loader)
