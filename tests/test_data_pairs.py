"""Training-pair sampler: determinism, frame choice, and where the target lands in each crop."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from autoprune.data import open_split
from autoprune.data.pairs import PairDataset, pair_loader
from autoprune.errors import DataError
from trackers.base import CropSpec

W, H = 160, 120
SPEC = CropSpec(template_size=64, search_size=128, template_factor=2.0, search_factor=4.0)


def _box(t: int) -> tuple[int, int, int, int]:
    return 20 + 4 * t, 30 + 2 * t, 24 + t, 16  # x, y, w, h: moves right and down, grows


def make_dataset(root: Path, *, frames: int = 12, absent=(3, 4), bad_line: int | None = None) -> Path:
    names = ["S1", "S2"]
    for name in names:
        folder = root / "train" / name
        folder.mkdir(parents=True)
        lines = []
        for t in range(frames):
            x, y, w, h = _box(t)
            image = np.full((H, W, 3), 40, np.uint8)
            image[y:y + h, x:x + w] = (250, 250, 250)  # the target: a white box on dark grey
            cv2.imwrite(str(folder / f"{t + 1:08d}.png"), image)
            lines.append(f"{x},{y},{w},{h}" if t + 1 != bad_line else f"{W + 5},{y},{w},{h}")
        (folder / "groundtruth.txt").write_text("\n".join(lines) + "\n")
        (folder / "absence.label").write_text("".join(f"{int(t in absent)}\n" for t in range(frames)))
    (root / "train" / "list.txt").write_text("\n".join(names) + "\n")
    return root


@pytest.fixture()
def sequences(tmp_path):
    return open_split(make_dataset(tmp_path), "train")


def test_same_seed_and_index_give_the_same_sample(sequences):
    a = PairDataset(sequences, SPEC, seed=5)
    b = PairDataset(sequences, SPEC, seed=5)
    for index in (0, 7, 10_000_123):
        x, y = a[index], b[index]
        assert all(torch.equal(x[k], y[k]) for k in x)
    assert not torch.equal(a[0]["search"], a[1]["search"]) or not torch.equal(a[0]["search_box"], a[1]["search_box"])
    assert not torch.equal(a[3]["search_box"], PairDataset(sequences, SPEC, seed=6)[3]["search_box"])


def test_frames_are_visible_and_within_max_gap(sequences):
    dataset = PairDataset(sequences, SPEC, max_gap=2, seed=0)
    for index in range(200):
        seq, i, j = dataset.frame_pair(np.random.default_rng([0, index]))
        assert seq.visible[i] and seq.visible[j] and 0 < abs(i - j) <= 2
        assert i not in (3, 4) and j not in (3, 4)


def test_target_sits_where_expected_without_jitter(sequences):
    dataset = PairDataset(sequences, SPEC, seed=1, scale_jitter=0, shift_jitter=0,
                          template_scale_jitter=0, template_shift_jitter=0)
    for index in range(10):
        sample = dataset[index]
        seq, i, j = dataset.frame_pair(np.random.default_rng([1, index]))
        for key, size, factor, t in (("template", 64, 2.0, i), ("search", 128, 4.0, j)):
            x, y, w, h = _box(t)
            side = factor * np.sqrt(w * h)
            expected = np.array([size / 2 - w / 2 * size / side, size / 2 - h / 2 * size / side,
                                 size / 2 + w / 2 * size / side, size / 2 + h / 2 * size / side])
            box = sample[f"{key}_box"].numpy()
            np.testing.assert_allclose(box, expected, atol=1e-3)
            _assert_white_inside(sample[key], box)


def test_jittered_search_keeps_box_on_the_target_pixels(sequences):
    dataset = PairDataset(sequences, SPEC, seed=2, scale_jitter=0.3, shift_jitter=3.0)
    centres = []
    for index in range(30):
        sample = dataset[index]
        box = sample["search_box"].numpy()
        _assert_white_inside(sample["search"], box)
        centres.append(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2))
    centres = np.array(centres)
    assert (centres > 0.1 * 128 - 1e-3).all() and (centres < 0.9 * 128 + 1e-3).all()
    assert centres.std(axis=0).min() > 3  # the search centre really is jittered


def _assert_white_inside(crop: torch.Tensor, box: np.ndarray) -> None:
    assert crop.dtype == torch.float32 and crop.shape[0] == 3 and crop.max() <= 255
    image = crop.mean(0).numpy()
    x1, y1, x2, y2 = box
    inner = image[int(np.ceil(y1)) + 1:int(np.floor(y2)) - 1, int(np.ceil(x1)) + 1:int(np.floor(x2)) - 1]
    assert inner.size and inner.min() > 200, "crop pixels inside the box are not the white target"
    ring = np.ones_like(image, bool)
    ring[max(int(y1) - 2, 0):int(np.ceil(y2)) + 2, max(int(x1) - 2, 0):int(np.ceil(x2)) + 2] = False
    assert image[ring].max() < 100, "white target pixels found outside the box"


def test_loader_batches_match_convention_and_repeat_with_workers(sequences):
    first = pair_loader(sequences, SPEC, batch_size=4, seed=3)
    batches = [next(first) for _ in range(3)]
    assert batches[0]["template"].shape == (4, 3, 64, 64) and batches[0]["search"].shape == (4, 3, 128, 128)
    assert batches[0]["template_box"].shape == (4, 4) and batches[0]["search_box"].dtype == torch.float32
    dataset = PairDataset(sequences, SPEC, seed=3)
    assert torch.equal(batches[2]["search"][1], dataset[9]["search"])  # batch b holds samples b*B .. b*B+B-1
    parallel = pair_loader(sequences, SPEC, batch_size=4, seed=3, workers=2)
    for batch in batches:
        other = next(parallel)
        assert all(torch.equal(batch[k], other[k]) for k in batch)


def test_box_outside_image_is_reported_with_file_and_line(tmp_path):
    sequences = open_split(make_dataset(tmp_path, frames=3, absent=(), bad_line=2), "train")
    dataset = PairDataset(sequences, SPEC, seed=0)
    with pytest.raises(DataError, match=r"S\d.groundtruth\.txt:2: box .* lies outside the 160x120 image"):
        for index in range(50):
            dataset[index]


def test_no_visible_target_is_a_clear_error(tmp_path):
    sequences = open_split(make_dataset(tmp_path, frames=2, absent=(0, 1)), "train")
    with pytest.raises(DataError, match="no sequence has a frame with a visible target"):
        PairDataset(sequences, SPEC)


def test_augmentation_changes_pixels_not_geometry_and_repeats():
    import trackers
    from autoprune.data import builtin_root
    from autoprune.data.augment import PROFILES

    seqs = open_split(builtin_root(), "train")[:4]
    spec = trackers.get("siamrpn").crop_spec(trackers.get("siamrpn").arch("tiny"))
    plain = PairDataset(seqs, spec, seed=3)
    camera = PairDataset(seqs, spec, seed=3, augment=PROFILES["camera"])
    changed = 0
    for k in range(6):
        a, b, again = plain[k], camera[k], camera[k]
        assert torch.equal(a["search_box"], b["search_box"]) and torch.equal(a["template_box"], b["template_box"])
        assert torch.equal(b["search"], again["search"])  # a sample is a pure function of (seed, index)
        changed += not torch.equal(a["search"], b["search"])
    assert changed >= 4  # colour jitter alone alters nearly every crop
    assert PairDataset(seqs, spec, seed=3, augment=PROFILES["none"]).augment is None
