"""Exports run their per-frame network in ONNX Runtime: a trained parent's boxes over a whole sequence, clear errors.

Every family's pruned child through ONNX: test_family_conformance.py.
"""
import numpy as np
import pytest

import autoprune
import trackers
from autoprune.cli import main
from autoprune.data import builtin_root, open_split
from autoprune.errors import ExportError
from autoprune.export import export_model
from conftest import pruned_child

pytest.importorskip("onnxruntime")


# What each family's tracker carries from frame to frame (besides the template cache).
TRACKER_STATE = {"siamrpn": ("center", "size"), "ostrack": ("box",), "stark": ("state",)}
SHIPPED = {"siamrpn": "small", "ostrack": "tiny", "stark": "small"}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_onnx_runtime_boxes_match_pytorch_over_a_whole_sequence(name, tmp_path):
    """A trained parent over a whole val sequence: every frame the ONNX tracker starts from the
    PyTorch tracker's state, and its box must land within 0.01 px of PyTorch's.

    Each step starts from the same state because the closed loop amplifies any difference
    (PyTorch on 1 and on 2 threads drift apart the same way): the README gives those figures.
    """
    from pathlib import Path

    from autoprune.models import load_saved

    family, parent = load_saved(Path(trackers.__file__).parent / name / "weights" / f"{SHIPPED[name]}-builtin.safetensors")
    out = export_model(family, parent, tmp_path / "export", onnx=True)
    pytorch, onnx = autoprune.load(out, runtime="torch"), autoprune.load(out, runtime="onnx")
    seq = open_split(builtin_root(), "val")[0]
    first = seq.image(0)
    pytorch.init(first, seq.boxes[0])
    onnx.init(first, seq.boxes[0])
    gaps = []
    for i in range(1, len(seq)):
        for attr in TRACKER_STATE[name]:
            setattr(onnx, attr, np.copy(getattr(pytorch, attr)))
        frame = seq.image(i)
        gaps.append(np.abs(onnx.update(frame) - pytorch.update(frame)).max())
    assert onnx.model.__dict__["track"].fallbacks == 0
    assert len(gaps) == len(seq) - 1 and max(gaps) < 0.01, f"largest per-frame gap {max(gaps):.2e} px"


def test_onnx_runtime_needs_an_onnx_export(tmp_path):
    family = trackers.get("siamrpn")
    out = export_model(family, family.create("tiny").eval(), tmp_path / "plain")
    with pytest.raises(ExportError, match="re-export with `autoprune export RUN --onnx`"):
        autoprune.load(out, runtime="onnx")
    with pytest.raises(ExportError, match="unknown runtime 'tensorrt'; valid: torch, onnx"):
        autoprune.load(out, runtime="tensorrt")


def test_evaluate_cli_with_onnx_runtime(tmp_path, capsys):
    family = trackers.get("siamrpn")
    child, _ = pruned_child(family, "tiny")
    out = export_model(family, child, tmp_path / "export", onnx=True)
    assert main(["evaluate", str(out), "--runtime", "onnx", "--max-sequences", "1", "--json"]) == 0
    assert '"ao"' in capsys.readouterr().out
    assert main(["evaluate", "--tracker", "siamrpn", "--preset", "tiny", "--runtime", "onnx"]) == 2
    assert "--runtime onnx runs an export" in capsys.readouterr().err
