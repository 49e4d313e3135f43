"""An export loads only as written: its record, weights and ONNX graph are hashed in arch.json."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import trackers
from autoprune.errors import ExportError
from autoprune.export import export_model, load_model

pytest.importorskip("onnxruntime")
FAMILY = trackers.get("siamrpn")


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Two ONNX exports of different tiny models (a graph from one is a valid graph for the other)."""
    import torch

    root = tmp_path_factory.mktemp("exports")
    old = os.umask(0o022)
    try:
        torch.manual_seed(0)
        first = export_model(FAMILY, FAMILY.create("tiny").eval(), root / "first", onnx=True, info={"trial": 3})
        torch.manual_seed(1)
        second = export_model(FAMILY, FAMILY.create("tiny").eval(), root / "second", onnx=True)
    finally:
        os.umask(old)
    return first, second


def _copy(export: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(export, copy)
    return copy


def _edit(copy: Path, change) -> None:
    manifest = json.loads((copy / "arch.json").read_text())
    change(manifest)
    (copy / "arch.json").write_text(json.dumps(manifest, indent=2))


def test_an_untouched_export_loads_in_both_runtimes(exports):
    load_model(exports[0])
    load_model(exports[0], runtime="onnx")


@pytest.mark.parametrize("change", [
    lambda m: m["arch"]["anchor"].update(scales=[5.0]),  # same tensor shapes, other boxes
    lambda m: m["arch"].update(search_size=m["arch"]["search_size"] + 8),
    lambda m: m.update(hparams={"penalty_k": 0.0}),
    lambda m: m["metrics"].update(full_ao=0.99) if "metrics" in m else m.update(trial=0),
    lambda m: m.pop("record_sha256"),
], ids=["anchors", "crop-size", "hparams", "metrics", "no-record-hash"])
def test_an_edited_record_is_refused(exports, tmp_path, change):
    copy = _copy(exports[0], tmp_path)
    _edit(copy, change)
    with pytest.raises(ExportError, match="SHA-256 of the record does not match"):
        load_model(copy)


def test_a_replaced_onnx_graph_is_refused(exports, tmp_path):
    copy = _copy(exports[0], tmp_path)
    shutil.copy(exports[1] / "model.onnx", copy / "model.onnx")
    with pytest.raises(ExportError, match="model.onnx: SHA-256 does not match"):
        load_model(copy, runtime="onnx")


def test_an_export_of_the_unhashed_format_is_refused(exports, tmp_path):
    from autoprune.export.loader import record_digest

    copy = _copy(exports[0], tmp_path)

    def older(m):
        m["format_version"] = 1
        m["record_sha256"] = record_digest(m)
    _edit(copy, older)
    with pytest.raises(ExportError, match="format version 1 does not hash"):
        load_model(copy)


def test_an_edited_record_is_one_line_on_the_command_line(exports, tmp_path):
    copy = _copy(exports[0], tmp_path)
    _edit(copy, lambda m: m["arch"]["anchor"].update(scales=[5.0]))
    done = subprocess.run([sys.executable, "-m", "autoprune.cli", "profile", "--export", str(copy), "--no-latency"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "arch.json was edited" in done.stderr


def test_an_export_has_ordinary_permissions(exports):
    export = exports[0]
    assert stat.S_IMODE(export.stat().st_mode) == 0o755  # written under umask 022
    assert {stat.S_IMODE(f.stat().st_mode) for f in export.iterdir()} == {0o644}
