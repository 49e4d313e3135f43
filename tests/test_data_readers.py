"""Dataset readers on small hand-written datasets in every supported layout."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from autoprune.data import available_splits, check_sequence, detect_layout, open_split
from autoprune.errors import DataError

W, H = 32, 24
_JPEG = cv2.imencode(".jpg", np.full((H, W, 3), 128, np.uint8))[1].tobytes()


def write_frames(folder: Path, count: int, *, pattern: str = "{:08d}.jpg", start: int = 1) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(start, start + count):
        (folder / pattern.format(k)).write_bytes(_JPEG)


def boxes_text(count: int, sep: str = ",") -> str:
    return "".join(sep.join(str(v) for v in (1 + k % 5, 2, 10, 8)) + "\n" for k in range(count))


def make_got10k(root: Path, split: str = "val", names=("GOT-10k_Val_000001", "GOT-10k_Val_000002"), frames=4):
    for name in names:
        seq = root / split / name
        write_frames(seq, frames)
        (seq / "groundtruth.txt").write_text(boxes_text(1 if split == "test" else frames))
        if split != "test":
            (seq / "absence.label").write_text("0\n" * (frames - 1) + "1\n")
            (seq / "cover.label").write_text("8\n" * (frames - 1) + "0\n")
            (seq / "cut_by_image.label").write_text("0\n" * frames)
            (seq / "meta_info.ini").write_text("[METAINFO]\nurl: https://x.y/z\nobject_class: cat\nresolution: (32, 24)\n")
    (root / split).mkdir(parents=True, exist_ok=True)
    (root / split / "list.txt").write_text("\n".join(names) + "\n")
    return root


# --- GOT-10k -------------------------------------------------------------------------

def test_got10k_reads_boxes_labels_and_meta(tmp_path):
    make_got10k(tmp_path)
    seqs = open_split(tmp_path, "val")
    assert detect_layout(tmp_path) == "got10k" and available_splits(tmp_path) == ["val"]
    assert [s.name for s in seqs] == ["GOT-10k_Val_000001", "GOT-10k_Val_000002"]
    seq = seqs[0]
    assert len(seq) == 4 and seq.frames[0].name == "00000001.jpg" and seq.frames[3].name == "00000004.jpg"
    assert seq.boxes.shape == (4, 4) and seq.boxes[1].tolist() == [2, 2, 10, 8]
    assert seq.absent.tolist() == [False, False, False, True] and seq.cover.tolist() == [8, 8, 8, 0]
    assert seq.visible.tolist() == [True, True, True, False]
    assert seq.meta == {"url": "https://x.y/z", "object_class": "cat", "resolution": "(32, 24)"}
    assert seq.image(0).shape == (H, W, 3)
    check_sequence(seq)


def test_got10k_test_split_has_first_box_only(tmp_path):
    make_got10k(tmp_path, "test", names=("GOT-10k_Test_000001",), frames=3)
    (seq,) = open_split(tmp_path, "test")
    assert seq.boxes[0].tolist() == [1, 2, 10, 8] and np.isnan(seq.boxes[1:]).all()
    assert seq.visible.tolist() == [True, False, False] and seq.cover is None


def test_got10k_frame_count_mismatch_names_file(tmp_path):
    make_got10k(tmp_path)
    (tmp_path / "val" / "GOT-10k_Val_000002" / "00000004.jpg").unlink()
    with pytest.raises(DataError, match=r"GOT-10k_Val_000002.groundtruth\.txt: has 4 boxes but its folder has 3 frames"):
        open_split(tmp_path, "val")


def test_got10k_missing_sequence_and_unknown_split(tmp_path):
    make_got10k(tmp_path)
    with pytest.raises(DataError, match="split 'train' not found.*splits present: val"):
        open_split(tmp_path, "train")
    with pytest.raises(DataError, match="unknown GOT-10k split 'dev'"):
        open_split(tmp_path, "dev")
    (tmp_path / "val" / "list.txt").write_text("GOT-10k_Val_000001\nGOT-10k_Val_000009\n")
    with pytest.raises(DataError, match="GOT-10k_Val_000009 is listed in .*list.txt but does not exist"):
        open_split(tmp_path, "val")


def test_opening_3000_sequences_decodes_no_image(tmp_path, monkeypatch):
    names = [f"GOT-10k_Train_{i:06d}" for i in range(1, 3001)]
    for i, name in enumerate(names):
        seq = tmp_path / "train" / name
        write_frames(seq, 1 + i % 2)
        (seq / "groundtruth.txt").write_text(boxes_text(1 + i % 2))
        (seq / "absence.label").write_text("0\n" * (1 + i % 2))
        (seq / "cover.label").write_text("8\n" * (1 + i % 2))
        (seq / "meta_info.ini").write_text("[METAINFO]\nresolution: (32, 24)\n")
    (tmp_path / "train" / "list.txt").write_text("\n".join(names))
    # Opening a split must stay lazy (its speed is measured in benchmarks/): any image
    # decode while opening fails the test.
    import cv2

    def refuse(*_args, **_kwargs):
        raise AssertionError("an image was decoded while opening the split")

    monkeypatch.setattr(cv2, "imread", refuse)
    seqs = open_split(tmp_path, "train")
    assert len(seqs) == 3000 and sum(len(s) for s in seqs) == 4500


# --- LaSOT ---------------------------------------------------------------------------

def make_lasot(root: Path, with_test_list: bool = True) -> Path:
    for category in ("airplane", "bear"):
        for n in (1, 2, 10):
            seq = root / category / f"{category}-{n}"
            write_frames(seq / "img", 5)
            (seq / "groundtruth.txt").write_text(boxes_text(5))
            (seq / "full_occlusion.txt").write_text("0,0,1,0,0")
            (seq / "out_of_view.txt").write_text("0,0,0,0,1\n")
            (seq / "nlp.txt").write_text("a thing")
    if with_test_list:
        (root / "testing_set.txt").write_text("airplane-1\nbear-10\n")
    return root


def test_lasot_splits_and_absence(tmp_path):
    make_lasot(tmp_path)
    assert detect_layout(tmp_path) == "lasot"
    assert [s.name for s in open_split(tmp_path, "test")] == ["airplane-1", "bear-10"]
    train = open_split(tmp_path, "train")
    assert [s.name for s in train] == ["airplane-2", "airplane-10", "bear-1", "bear-2"]
    assert train[0].absent.tolist() == [False, False, True, False, True]
    assert train[0].meta["category"] == "airplane" and len(open_split(tmp_path, "all")) == 6
    check_sequence(train[0])


def test_lasot_without_testing_set_has_only_all(tmp_path):
    make_lasot(tmp_path, with_test_list=False)
    assert available_splits(tmp_path) == ["all"]
    with pytest.raises(DataError, match="testing_set.txt is missing"):
        open_split(tmp_path, "train")


def test_lasot_bad_flag_names_file_and_line(tmp_path):
    make_lasot(tmp_path)
    (tmp_path / "bear" / "bear-2" / "out_of_view.txt").write_text("0,0,\n0,x,0")
    with pytest.raises(DataError, match=r"bear-2.out_of_view\.txt:2: 'x' is not a number"):
        open_split(tmp_path, "all")


# --- OTB -----------------------------------------------------------------------------

def make_otb(root: Path) -> Path:
    write_frames(root / "Basketball" / "img", 4, pattern="{:04d}.jpg")
    (root / "Basketball" / "groundtruth_rect.txt").write_text("1,2,10,8\n2\t2\t10\t8\n3 2 10 8\n4, 2, 10, 8\n")
    write_frames(root / "Jogging" / "img", 3, pattern="{:04d}.jpg")
    (root / "Jogging" / "groundtruth_rect.1.txt").write_text(boxes_text(3, "\t"))
    (root / "Jogging" / "groundtruth_rect.2.txt").write_text(boxes_text(3, " "))
    write_frames(root / "Human4" / "img", 2, pattern="{:04d}.jpg")
    (root / "Human4" / "groundtruth_rect.1.txt").write_text("\n")
    (root / "Human4" / "groundtruth_rect.2.txt").write_text(boxes_text(2))
    write_frames(root / "Football1" / "img", 80, pattern="{:04d}.jpg")  # annotated: frames 1..74
    (root / "Football1" / "groundtruth_rect.txt").write_text(boxes_text(74))
    write_frames(root / "Tiger1" / "img", 354, pattern="{:04d}.jpg")  # frames 6..354, first 5 rows skipped
    (root / "Tiger1" / "groundtruth_rect.txt").write_text(boxes_text(354))
    write_frames(root / "David" / "img", 471, pattern="{:04d}.jpg", start=300)  # shipped as 0300..0770
    (root / "David" / "groundtruth_rect.txt").write_text(boxes_text(471))
    return root


def test_otb_separators_and_odd_sequences(tmp_path):
    make_otb(tmp_path)
    assert detect_layout(tmp_path) == "otb"
    seqs = {s.name: s for s in open_split(tmp_path, "all")}
    assert sorted(seqs) == ["Basketball", "David", "Football1", "Human4.2", "Jogging.1", "Jogging.2", "Tiger1"]
    assert seqs["Basketball"].boxes[:, 0].tolist() == [1, 2, 3, 4]
    assert len(seqs["Jogging.1"]) == len(seqs["Jogging.2"]) == 3
    assert len(seqs["Football1"]) == 74 and seqs["Football1"].frames[-1].name == "0074.jpg"
    tiger = seqs["Tiger1"]
    assert len(tiger) == 349 and tiger.frames[0].name == "0006.jpg" and tiger.boxes[0, 0] == 1 + 5 % 5
    assert tiger.where(0).endswith("groundtruth_rect.txt:6")
    assert len(seqs["David"]) == 471 and seqs["David"].frames[0].name == "0300.jpg"


def test_otb_malformed_line_names_file_and_line(tmp_path):
    make_otb(tmp_path)
    (tmp_path / "Basketball" / "groundtruth_rect.txt").write_text("1,2,10,8\n2\t2\t10\n3 2 10 8\n4,2,10,8\n")
    with pytest.raises(DataError, match=r"Basketball.groundtruth_rect\.txt:2: malformed box line"):
        open_split(tmp_path, "all")


# --- TrackingNet ---------------------------------------------------------------------

def make_trackingnet(root: Path) -> Path:
    for chunk, names in (("TRAIN_0", ["a1", "a2"]), ("TRAIN_1", ["b1"]), ("TEST", ["t1"])):
        for name in names:
            write_frames(root / chunk / "frames" / name, 12, pattern="{}.jpg", start=0)
            (root / chunk / "anno").mkdir(parents=True, exist_ok=True)
            (root / chunk / "anno" / f"{name}.txt").write_text(boxes_text(1 if chunk == "TEST" else 12))
    return root


def test_trackingnet_chunks_and_numeric_frame_order(tmp_path):
    make_trackingnet(tmp_path)
    assert detect_layout(tmp_path) == "trackingnet"
    assert [s.name for s in open_split(tmp_path, "train")] == ["a1", "a2", "b1"]
    assert [s.name for s in open_split(tmp_path, "TRAIN_1")] == ["b1"]
    (test_seq,) = open_split(tmp_path, "test")
    assert np.isnan(test_seq.boxes[1:]).all() and test_seq.meta["chunk"] == "TEST"
    seq = open_split(tmp_path, "TRAIN_0")[0]
    assert [f.name for f in seq.frames[:3]] == ["0.jpg", "1.jpg", "2.jpg"] and seq.frames[-1].name == "11.jpg"
    assert "TRAIN_1" in available_splits(tmp_path)


# --- errors common to all layouts ----------------------------------------------------

def test_missing_root_and_file_root(tmp_path):
    with pytest.raises(DataError, match="dataset root .*nowhere does not exist"):
        open_split(tmp_path / "nowhere", "val")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DataError, match="is a file"):
        open_split(tmp_path / "file.txt", "val")


def test_wrong_layout_lists_expected_layouts_and_contents(tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError) as info:
        open_split(tmp_path, "val")
    message = str(info.value)
    assert "\n" not in message
    for expected in ("GOT-10k", "LaSOT", "OTB", "TrackingNet", "notes.txt", "videos/"):
        assert expected in message


def test_empty_split(tmp_path):
    (tmp_path / "val").mkdir()
    (tmp_path / "val" / "list.txt").write_text("\n")
    with pytest.raises(DataError, match="split 'val' of .* holds no sequences"):
        open_split(tmp_path, "val")


def test_malformed_groundtruth_line_number(tmp_path):
    make_got10k(tmp_path)
    gt = tmp_path / "val" / "GOT-10k_Val_000002" / "groundtruth.txt"
    gt.write_text("1,2,10,8\n1,2,10,8\n1,2,ten,8\n1,2,10,8\n")
    with pytest.raises(DataError, match=r"GOT-10k_Val_000002.groundtruth\.txt:3: malformed box line '1,2,ten,8'"):
        open_split(tmp_path, "val")
    gt.write_text("1,2,10,8\n\n1,2,10,8\n1,2,10,8\n")
    with pytest.raises(DataError, match=r"groundtruth\.txt:2: malformed"):
        open_split(tmp_path, "val")


def test_check_sequence_finds_unreadable_image_and_box_outside(tmp_path):
    make_got10k(tmp_path)
    seq_dir = tmp_path / "val" / "GOT-10k_Val_000001"
    (seq_dir / "00000002.jpg").write_bytes(b"not an image at all")
    seq = open_split(tmp_path, "val")[0]
    with pytest.raises(DataError, match=r"00000002\.jpg: unreadable"):
        check_sequence(seq)
    with pytest.raises(DataError, match=r"00000002\.jpg: unreadable"):
        seq.image(1)
    write_frames(seq_dir, 4)
    (seq_dir / "groundtruth.txt").write_text("1,2,10,8\n1,2,10,8\n40,2,10,8\n1,2,10,8\n")
    seq = open_split(tmp_path, "val")[0]
    with pytest.raises(DataError, match=r"GOT-10k_Val_000001.groundtruth\.txt:3: box \(40,2,10,8\) lies outside the 32x24"):
        check_sequence(seq)
