"""Exports run their per-frame network in ONNX Runtime: same boxes as PyTorch, clear errors."""
import numpy as np
import pytest

import autoprune
import trackers
from autoprune.cli import main
from autoprune.data import builtin_root, open_split
from autoprune.errors import ExportError
from autoprune.export import export_model

pytest.importorskip("onnxruntime")


def _pruned(name, preset):
    from autoprune.prune.pruner import Pruner
    from autoprune.prune.space import load_space

    family = trackers.get(name)
    pruner = Pruner(family.create(preset).eval(), load_space(name))
    rng = np.random.default_rng(1)
    return family, pruner.prune(pruner.space.random(rng))[0].eval()


@pytest.mark.parametrize("name,preset", [("siamrpn", "tiny"), ("ostrack", "tiny"), ("stark", "tiny")])
def test_onnx_runtime_tracks_like_pytorch(name, preset, tmp_path):
    family, child = _pruned(name, preset)
    out = export_model(family, child, tmp_path / "export", onnx=True)
    seq = open_split(builtin_root(), "val")[0]
    frames = [seq.image(i) for i in range(12)]
    boxes = {}
    for runtime in ("torch", "onnx"):
        tracker = autoprune.load(out, runtime=runtime)
        # One step from the same state each time: a closed loop of an untrained child is
        # chaotic, and float differences of 1e-6 would grow into different paths.
        steps = []
        for i in range(1, len(frames)):
            tracker.init(frames[i - 1], seq.boxes[i - 1])
            steps.append(tracker.update(frames[i]))
        boxes[runtime] = np.array(steps)
    assert type(tracker.model.__dict__["track"]).__name__ == "OnnxFramePath"
    assert tracker.model.__dict__["track"].fallbacks == 0  # the exported graph ran every frame
    np.testing.assert_allclose(boxes["onnx"], boxes["torch"], atol=1e-2)


def test_onnx_runtime_needs_an_onnx_export(tmp_path):
    family = trackers.get("siamrpn")
    out = export_model(family, family.create("tiny").eval(), tmp_path / "plain")
    with pytest.raises(ExportError, match="re-export with `autoprune export RUN --onnx`"):
        autoprune.load(out, runtime="onnx")
    with pytest.raises(ExportError, match="unknown runtime 'tensorrt'; valid: torch, onnx"):
        autoprune.load(out, runtime="tensorrt")


def test_evaluate_cli_with_onnx_runtime(tmp_path, capsys):
    family, child = _pruned("siamrpn", "tiny")
    out = export_model(family, child, tmp_path / "export", onnx=True)
    assert main(["evaluate", str(out), "--runtime", "onnx", "--max-sequences", "1", "--json"]) == 0
    assert '"ao"' in capsys.readouterr().out
    assert main(["evaluate", "--tracker", "siamrpn", "--preset", "tiny", "--runtime", "onnx"]) == 2
    assert "--runtime onnx runs an export" in capsys.readouterr().err
