"""Every command that reads a dataset checks it first: one line naming the file, exit 2, nothing written."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autoprune.data.verify import checked_split
from autoprune.errors import DataError


@pytest.fixture(scope="module")
def clean_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "small"
    done = _cli(root.parent, "data", "synth", "--out", str(root), "--train", "2", "--val", "2", "--test", "0")
    assert done.returncode == 0, done.stderr
    return root


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autoprune.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(Path.cwd())})


def _damaged(clean: Path, tmp_path: Path, split: str, how: str) -> tuple[Path, Path]:
    """A copy of the dataset with one frame of ``split`` truncated or overwritten with garbage."""
    root = tmp_path / "data"
    shutil.copytree(clean, root)
    frame = sorted((next(p for p in sorted((root / split).iterdir()) if p.is_dir())).glob("*.jpg"))[3]
    data = frame.read_bytes()
    frame.write_bytes(data[: len(data) // 2] if how == "truncated" else b"not a picture" * 50)
    return root, frame


def _one_error(done: subprocess.CompletedProcess) -> str:
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    return errors[0]


SEARCH = ["search", "--tracker", "siamrpn", "--preset", "tiny", "--budget-mflops", "25", "--trials", "1",
          "--proxy-steps", "1", "--parent-steps", "4", "--workers", "1"]


@pytest.mark.parametrize("split, how", [("val", "truncated"), ("train", "garbage")])
def test_search_on_bad_data_is_one_line_and_writes_no_run(clean_data, tmp_path, split, how):
    root, frame = _damaged(clean_data, tmp_path, split, how)
    line = _one_error(_cli(tmp_path, *SEARCH, "--data", str(root)))
    assert str(frame) in line and ("re-copy" in line or "re-extract" in line)
    assert not (tmp_path / "runs").exists()


def test_train_and_evaluate_check_the_split_they_read(clean_data, tmp_path):
    root, frame = _damaged(clean_data, tmp_path, "train", "truncated")
    out = tmp_path / "trained"
    line = _one_error(_cli(tmp_path, "train", "--tracker", "siamrpn", "--preset", "tiny", "--steps", "1",
                           "--data", str(root), "--out", str(out)))
    assert str(frame) in line and not out.exists()
    root, frame = _damaged(clean_data, tmp_path / "again", "val", "garbage")
    assert str(frame) in _one_error(_cli(tmp_path, "evaluate", "--baseline", "static", "--data", str(root)))


def test_a_split_that_passed_is_checked_again_once_a_file_changes(clean_data, tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOPRUNE_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "data"
    shutil.copytree(clean_data, root)
    checked_split(root, "val")
    assert len(list((tmp_path / "cache" / "checked").glob("*.ok"))) == 1  # remembered: next time only stats
    frame = sorted(next(p for p in sorted((root / "val").iterdir()) if p.is_dir()).glob("*.jpg"))[0]
    frame.write_bytes(frame.read_bytes()[:-200])
    with pytest.raises(DataError, match=f"{frame.name}: truncated JPEG"):
        checked_split(root, "val")
