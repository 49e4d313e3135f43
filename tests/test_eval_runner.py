"""evaluate() against the real got10k toolkit on a tiny GOT-10k val split written here."""
from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from got10k.experiments import ExperimentGOT10k
from rich.console import Console

from autoprune.data import builtin_root, open_split
from autoprune.data.sequence import Sequence
from autoprune.errors import AutoPruneError, DataError
from autoprune.eval import evaluate
from autoprune.eval.baselines import OpenCVTracker, StaticBoxTracker, available_kinds
from autoprune.eval.got10k_adapter import AsGot10kTracker
from autoprune.eval.results import read_sequence_results
from trackers.base import Tracker

WIDTH, HEIGHT = 64, 48
BACKGROUND_RGB = (200, 40, 30)  # red, so a swapped channel order shows


def _write_sequence(folder: Path, boxes: np.ndarray, cover: np.ndarray) -> None:
    folder.mkdir(parents=True)
    for i, (x, y, w, h) in enumerate(boxes):
        img = np.empty((HEIGHT, WIDTH, 3), np.uint8)
        img[:] = BACKGROUND_RGB
        if cover[i] > 0:
            x0, y0 = int(max(x, 0)), int(max(y, 0))
            img[y0 : int(y + h), x0 : int(x + w)] = (250, 250, 250)
        cv2.imwrite(str(folder / f"{i + 1:08d}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    np.savetxt(folder / "groundtruth.txt", boxes, fmt="%.4f", delimiter=",")
    np.savetxt(folder / "cover.label", cover, fmt="%d")
    np.savetxt(folder / "absence.label", (cover == 0).astype(int), fmt="%d")
    cut = ((boxes[:, 0] < 0) | (boxes[:, 0] + boxes[:, 2] > WIDTH)).astype(int)
    np.savetxt(folder / "cut_by_image.label", cut, fmt="%d")
    (folder / "meta_info.ini").write_text(
        f"[METAINFO]\nobject_class: square\nmotion_class: sliding\nresolution: ({WIDTH}, {HEIGHT})\n"
    )


@pytest.fixture(scope="module")
def got10k_root(tmp_path_factory) -> Path:
    """GOT-10k val layout: a drifting square, one that leaves the image, one that disappears."""
    root = tmp_path_factory.mktemp("got10k")
    n = 12
    t = np.arange(n, dtype=float)
    specs = {
        "GOT-10k_Val_000001": (np.column_stack([10 + 2 * t, 8 + t, np.full(n, 14.3), np.full(n, 12.7)]), np.full(n, 8)),
        "GOT-10k_Val_000002": (np.column_stack([30 + 3.5 * t, 20 - 0.5 * t, np.full(n, 16.0), np.full(n, 11.0)]), np.full(n, 7)),
        "GOT-10k_Val_000003": (np.column_stack([20 - t, 15 + 0.3 * t, np.full(n, 10.5), np.full(n, 13.0)]), np.array([8, 8, 6, 0, 0, 5, 8, 8, 8, 4, 8, 8])),
    }
    for name, (boxes, cover) in specs.items():
        _write_sequence(root / "val" / name, boxes, cover)
    (root / "val" / "list.txt").write_text("\n".join(specs) + "\n")
    return root


@pytest.fixture(scope="module")
def val_sequences(got10k_root) -> list[Sequence]:
    return open_split(got10k_root, "val")


class NoisyOracle(Tracker):
    """Ground truth plus seeded Gaussian noise; some boxes leave the image, some shrink to nothing."""

    name = "noisy-oracle"

    def __init__(self, sequences: list[Sequence], *, sigma: float = 1.5, seed: int = 0) -> None:
        self._by_first = {tuple(np.round(s.boxes[0], 3)): s.boxes for s in sequences}
        self._rng = np.random.default_rng(seed)
        self._sigma = sigma

    def init(self, image, box) -> None:
        self._boxes = self._by_first[tuple(np.round(np.asarray(box, float), 3))]
        self._frame = 0

    def update(self, image) -> np.ndarray:
        self._frame += 1
        box = self._boxes[self._frame] + self._rng.normal(0, self._sigma, 4)
        return box


class ColourProbe(StaticBoxTracker):
    """Records what images look like when they reach a tracker."""

    name = "probe"

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def update(self, image):
        self.seen.append(image)
        return super().update(image)


def _got10k_report(root: Path, results: Path, tmp_path: Path, name: str) -> dict:
    exp = ExperimentGOT10k(str(root), subset="val", result_dir=str(results), report_dir=str(tmp_path / "reports"))
    return exp.report([name])[name]


def _assert_parity(result, report) -> None:
    assert abs(result.ao - report["overall"]["ao"]) < 1e-6
    assert abs(result.sr50 - report["overall"]["sr"]) < 1e-6
    for seq, row in report["seq_wise"].items():
        assert abs(result.sequences[seq].ao - row["ao"]) < 1e-6
        assert abs(result.sequences[seq].sr50 - row["sr"]) < 1e-6
    curve = np.asarray(report["overall"]["succ_curve"])  # 101 thresholds: pooled frames
    assert abs(result.sr75 - curve[75]) < 1e-6


def test_static_box_matches_got10k_report(got10k_root, val_sequences, tmp_path):
    result = evaluate(StaticBoxTracker(), val_sequences, out_dir=tmp_path / "results" / "GOT-10k", tracker_name="static", progress=False)
    _assert_parity(result, _got10k_report(got10k_root, tmp_path / "results", tmp_path, "static"))
    assert 0.0 < result.ao < 0.6
    assert result.frames == 11 + 11 + 9  # frame 0 and the two cover-0 frames left out


def test_noisy_oracle_matches_got10k_report_over_repetitions(got10k_root, val_sequences, tmp_path):
    out = tmp_path / "results" / "GOT-10k"
    result = evaluate(NoisyOracle(val_sequences), val_sequences, out_dir=out, tracker_name="oracle", progress=True, repetitions=2)
    report = _got10k_report(got10k_root, tmp_path / "results", tmp_path, "oracle")
    _assert_parity(result, report)
    assert result.ao > 0.5 and result.precision > 0.9
    boxes, times = read_sequence_results(out, tracker_name="oracle", seq_name="GOT-10k_Val_000003")
    assert len(boxes) == 2 and boxes[0].shape == (12, 4) and times.shape == (12, 2)
    assert not np.allclose(boxes[0][1:], boxes[1][1:])  # two different noisy runs, pooled
    assert result.fps > 0


def test_rerun_with_fewer_repetitions_replaces_old_files(val_sequences, tmp_path):
    seqs = val_sequences[:1]
    evaluate(NoisyOracle(seqs), seqs, out_dir=tmp_path, tracker_name="o", progress=False, repetitions=3)
    evaluate(NoisyOracle(seqs), seqs, out_dir=tmp_path, tracker_name="o", progress=False)
    boxes, times = read_sequence_results(tmp_path, tracker_name="o", seq_name=seqs[0].name)
    assert len(boxes) == 1 and times.shape == (12, 1)


def test_got10k_runs_our_tracker_through_the_adapter(got10k_root, val_sequences, tmp_path):
    exp = ExperimentGOT10k(str(got10k_root), subset="val", result_dir=str(tmp_path / "r"), report_dir=str(tmp_path / "rep"))
    probe = ColourProbe()
    exp.run(AsGot10kTracker(probe, "static-adapted", is_deterministic=True))
    report = exp.report(["static-adapted"])["static-adapted"]
    ours = evaluate(StaticBoxTracker, val_sequences, progress=False)  # a factory: fresh tracker per sequence
    _assert_parity(ours, report)
    assert ours.tracker_name == "static-box"
    image = probe.seen[0]
    assert isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.shape == (HEIGHT, WIDTH, 3)
    corner = image[:4, :4].reshape(-1, 3).mean(0)
    assert corner[0] > 150 and corner[2] < 80  # RGB, not BGR


def test_evaluate_hands_rgb_and_renders_a_table(val_sequences):
    probe = ColourProbe()
    result = evaluate(probe, val_sequences[:1], progress=False)
    assert probe.seen[0][:4, :4, 0].mean() > 150 and probe.seen[0][:4, :4, 2].mean() < 80
    console = Console(record=True, width=140)
    console.print(result.table(per_sequence=True))
    text = console.export_text()
    assert "AO" in text and val_sequences[0].name in text
    assert result.as_dict()["sequences"][val_sequences[0].name]["frames"] == 11


def test_opencv_baseline_tracks_a_few_frames(val_sequences):
    assert available_kinds(), "the installed OpenCV build should provide at least one classical tracker"
    tracker = OpenCVTracker("MIL")
    assert tracker.kind in available_kinds()
    # All 12 frames: MIL samples at random (no seed reaches it); over 5 frames of this slow drift it
    # scored below the static box in some runs, over 12 it scored AO 0.25-0.54 in 12 runs (static 0.15).
    seq = val_sequences[0]
    result = evaluate(tracker, [seq], progress=False)
    static = evaluate(StaticBoxTracker(), [seq], progress=False)
    assert result.frames == 11 and result.ao > static.ao
    assert result.tracker_name == tracker.name


def test_opencv_unknown_kind_falls_back_with_a_warning():
    with pytest.warns(UserWarning, match="not available"):
        tracker = OpenCVTracker("NoSuchKind")
    assert tracker.kind == available_kinds()[0]


def test_bad_inputs_give_clear_errors(val_sequences):
    with pytest.raises(DataError, match="no sequences"):
        evaluate(StaticBoxTracker(), [], progress=False)

    class Broken(StaticBoxTracker):
        def update(self, image):
            return [1, 2, 3]

    with pytest.raises(AutoPruneError, match="expected 4 numbers"):
        evaluate(Broken(), val_sequences[:1], progress=False)
    seq = val_sequences[0]
    boxes = seq.boxes.copy()
    boxes[0] = np.nan
    with pytest.raises(DataError, match="first-frame box"):
        evaluate(StaticBoxTracker(), [Sequence("x", seq.frames, boxes)], progress=False)


def test_empty_and_unannotated_sequences_are_scored_as_nothing(val_sequences):
    seq = val_sequences[0]
    test_like = seq.boxes.copy()
    test_like[1:] = np.nan  # GOT-10k test: only the first box is given
    seqs = [Sequence("empty", [], np.zeros((0, 4))), Sequence("test-like", seq.frames, test_like), seq]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = evaluate(StaticBoxTracker(), seqs, progress=False)
    assert result.sequences["empty"].frames == 0 and np.isnan(result.sequences["empty"].ao)
    assert result.sequences["test-like"].frames == 0
    assert result.ao == pytest.approx(result.sequences[seq.name].ao)


def test_test_split_with_only_the_first_box_still_runs(val_sequences, tmp_path):
    seq = val_sequences[1]
    first_only = Sequence(seq.name, seq.frames, seq.boxes[:1])
    result = evaluate(StaticBoxTracker(), [first_only], out_dir=tmp_path, tracker_name="s", progress=False)
    assert result.frames == 0
    boxes, _ = read_sequence_results(tmp_path, tracker_name="s", seq_name=seq.name)
    assert boxes[0].shape == (12, 4)  # a full result file, ready for the GOT-10k server


@pytest.mark.slow
def test_baselines_on_builtin_val_sequences_match_got10k(tmp_path):
    # two built-in val sequences behind their own list.txt, so got10k scores just those
    root = tmp_path / "data"
    (root / "val").mkdir(parents=True)
    names = [s.name for s in open_split(builtin_root(), "val")[:2]]
    for name in names:
        (root / "val" / name).symlink_to(builtin_root() / "val" / name, target_is_directory=True)
    (root / "val" / "list.txt").write_text("\n".join(names) + "\n")
    seqs = open_split(root, "val")
    exp = ExperimentGOT10k(str(root), subset="val", result_dir=str(tmp_path), report_dir=str(tmp_path / "rep"))
    static = evaluate(StaticBoxTracker(), seqs, out_dir=tmp_path / "GOT-10k", progress=False)
    mil = evaluate(OpenCVTracker("MIL"), seqs, out_dir=tmp_path / "GOT-10k", progress=False)
    reports = exp.report([static.tracker_name, mil.tracker_name])
    _assert_parity(static, reports[static.tracker_name])
    _assert_parity(mil, reports[mil.tracker_name])
    assert mil.ao > static.ao
