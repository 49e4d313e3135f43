"""The built-in dataset generator: determinism, GOT-10k labels, got10k toolkit, cache."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from autoprune.data import builtin_root, check_sequence, open_split
from autoprune.data import synth
from autoprune.errors import DataError

SMALL = dict(train=2, val=2, test=1, frames=(20, 24))


def _contents(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory) -> Path:
    return synth.generate(tmp_path_factory.mktemp("synth") / "data", seed=7, train=2, val=6, test=1, frames=(40, 50))


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = _contents(synth.generate(tmp_path / "a", seed=3, **SMALL))
    b = _contents(synth.generate(tmp_path / "b", seed=3, **SMALL))
    c = _contents(synth.generate(tmp_path / "c", seed=4, **SMALL))
    assert a == b
    assert a["val/Synth_Val_000001/00000001.jpg"] != c["val/Synth_Val_000001/00000001.jpg"]
    assert a["val/Synth_Val_000001/groundtruth.txt"] != c["val/Synth_Val_000001/groundtruth.txt"]


def test_layout_files_and_difficulty(synth_root):
    seq_dir = synth_root / "val" / "Synth_Val_000001"
    for name in ("groundtruth.txt", "absence.label", "cover.label", "cut_by_image.label", "meta_info.ini", "00000001.jpg"):
        assert (seq_dir / name).is_file(), name
    assert (synth_root / "val" / "list.txt").read_text().split() == [f"Synth_Val_{i:06d}" for i in range(1, 7)]
    seqs = open_split(synth_root, "val")
    assert {s.meta["difficulty"] for s in seqs} == {"easy", "hard"}
    assert all(s.meta["resolution"] == "(320, 240)" and 40 <= len(s) <= 50 for s in seqs)
    assert len(open_split(synth_root, "train")) == 2


def test_test_split_is_labelled_and_disjoint(synth_root):
    test, val, train = (open_split(synth_root, split)[0] for split in ("test", "val", "train"))
    check_sequence(test)
    assert len(test.boxes) == len(test) and test.cover is not None  # scored here, unlike GOT-10k's test split
    # each split has its own random stream: sequence 1 of one split is not sequence 1 of another
    assert not np.array_equal(test.image(0), val.image(0)) and not np.array_equal(test.image(0), train.image(0))


def test_labels_are_consistent(synth_root):
    seqs = open_split(synth_root, "val")
    for seq in seqs:
        check_sequence(seq)  # every frame readable, every box inside its image
        assert seq.image(0).shape == (240, 320, 3)
        assert ((seq.cover == 0) == seq.absent).all(), seq.name
        assert seq.cover.min() >= 0 and seq.cover.max() <= 8
        assert seq.cover[0] == 8 and not seq.absent[0]
        b = seq.boxes
        assert (b[:, 2] > 0).all() and (b[:, 3] > 0).all()
        assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all() and (b[:, 0] + b[:, 2] <= 320).all() and (b[:, 1] + b[:, 3] <= 240).all()
        cut = np.loadtxt(synth_root / "val" / seq.name / "cut_by_image.label")
        touches = (b[:, 0] <= 0) | (b[:, 1] <= 0) | (b[:, 0] + b[:, 2] >= 320) | (b[:, 1] + b[:, 3] >= 240)
        assert (cut.astype(bool) == touches).all()
    hard = [s for s in seqs if s.meta["difficulty"] == "hard"]
    # Hard sequences show the nuisances they are made for: occlusion and exits from the frame.
    assert any((s.cover < 8).any() for s in hard)
    assert any(np.loadtxt(synth_root / "val" / s.name / "cut_by_image.label").any() for s in hard)


def test_got10k_toolkit_runs_and_reports(synth_root, tmp_path):
    from got10k.experiments import ExperimentGOT10k
    from got10k.trackers import Tracker

    class FirstBoxTracker(Tracker):
        def __init__(self):
            super().__init__(name="FirstBox", is_deterministic=True)

        def init(self, image, box):
            self.box = np.asarray(box, dtype=float)

        def update(self, image):
            return self.box

    experiment = ExperimentGOT10k(str(synth_root), subset="val", result_dir=str(tmp_path / "results"),
                                  report_dir=str(tmp_path / "reports"))
    experiment.run(FirstBoxTracker())
    performance = experiment.report(["FirstBox"])
    overall = performance["FirstBox"]["overall"]
    assert 0.0 < overall["ao"] < 1.0 and 0.0 <= overall["sr"] <= 1.0
    assert len(performance["FirstBox"]["seq_wise"]) == 6


def test_generate_refuses_non_empty_folder(tmp_path):
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(DataError, match="not empty"):
        synth.generate(tmp_path, train=1, val=1, test=0)


def test_cover_classes():
    assert [synth.cover_class(v) for v in (0.0, 0.005, 0.1, 0.15, 0.2, 0.5, 0.89, 0.95, 0.999, 1.0)] == [0, 0, 1, 1, 2, 4, 6, 7, 8, 8]


def test_builtin_root_generates_once_under_concurrency(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOPRUNE_CACHE", str(tmp_path / "cache"))
    results, errors = [], []

    def call():
        try:
            results.append(builtin_root(seed=1, train=1, val=1, test=1))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1
    root = results[0]
    assert root == tmp_path / "cache" / "builtin-v1-seed1-train1-val1-test1"
    assert [len(open_split(root, split)) for split in ("train", "val", "test")] == [1, 1, 1]
    leftovers = [p.name for p in root.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    stamp = (root / "autoprune-builtin.json").stat().st_mtime_ns
    assert builtin_root(seed=1, train=1, val=1, test=1) == root
    assert (root / "autoprune-builtin.json").stat().st_mtime_ns == stamp
