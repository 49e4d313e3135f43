"""Tracking in ONNX Runtime for scoring: same outputs as PyTorch, the model as it was afterwards."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import trackers
from autoprune.errors import ConfigError
from autoprune.eval import evaluate
from autoprune.export.onnx_runtime import OnnxFramePath, tracking_on
from autoprune.pipeline import search
from autoprune.run.settings import SearchSettings
from conftest import builtin_val_sequence, pruned_child


@pytest.mark.parametrize("name", ["siamrpn", "ostrack", "stark"])
def test_a_tracked_sequence_starts_the_same_in_onnx_runtime(name):
    family = trackers.get(name)
    child, _ = pruned_child(family, "tiny")
    seq = builtin_val_sequence(0)
    frames = min(6, len(seq))

    def boxes(tracker):
        tracker.init(seq.image(0), seq.boxes[0])
        return np.array([tracker.update(seq.image(i)) for i in range(1, frames)])

    expected = boxes(family.make_tracker(child))
    with tracking_on("onnx", family, child):
        assert isinstance(child.__dict__["track"], OnnxFramePath)
        got = boxes(family.make_tracker(child))
    # float rounding only: the first frames agree to a small fraction of a pixel. An untrained
    # child's box feeds the next frame's crop, so rounding grows ~5-10x a frame (and with the
    # CPU's kernels); later frames are held only to "no jump to another peak".
    error = np.abs(got - expected).max(axis=1)
    assert error[:3].max() < 0.05, error
    assert error.max() < 2.0, error
    assert "track" not in child.__dict__ and not any(m.training for m in child.modules())
    assert np.array_equal(boxes(family.make_tracker(child)), expected)  # PyTorch again, unchanged


def test_the_torch_runtime_changes_nothing_and_an_unknown_one_is_refused():
    family = trackers.get("siamrpn")
    child, _ = pruned_child(family, "tiny")
    with tracking_on("torch", family, child):
        assert "track" not in child.__dict__
    with pytest.raises(ConfigError, match="unknown runtime 'tensorrt'"):
        with tracking_on("tensorrt", family, child):
            pass


def test_full_validation_in_onnx_runtime_is_recorded(tmp_path):
    torch.set_num_threads(1)
    s = SearchSettings.from_options(tracker="siamrpn", preset="tiny", budget_kind="mflops", budget_value=25.0, trials=2,
                                    proxy_steps=1, proxy_sequences=1, parent_steps=4, validate_steps=1, validate_max=1,
                                    validate_sequences=2, validate_runtime="onnx", runs_dir=str(tmp_path / "runs"),
                                    command="autoprune search (test)")
    run_dir = Path(search(s, progress=False)["run_dir"])
    assert json.loads((run_dir / "run.json").read_text())["validate_runtime"] == "onnx"
    export = run_dir / "export" / "best"
    assert json.loads((export / "arch.json").read_text())["validation"] == {"steps": 1, "sequences": 2, "runtime": "onnx"}
    assert "full validation: 2 val sequences tracked in ONNX Runtime, after 1 fine-tune steps" in (export / "card.md").read_text()


def test_a_study_spec_names_its_evaluation_runtime(tmp_path):
    from autoprune.study.spec import parse_spec

    base = {"name": "t", "budgets": [0.5], "families": {"siamrpn": {"preset": "tiny"}}, "methods": {"uniform": {}}}
    assert parse_spec(base, tmp_path / "t.yaml").eval_runtime == "torch"
    assert parse_spec({**base, "eval_runtime": "onnx"}, tmp_path / "t.yaml").eval_runtime == "onnx"
    with pytest.raises(ConfigError, match="eval_runtime must be torch or onnx, got 'trt'"):
        parse_spec({**base, "eval_runtime": "trt"}, tmp_path / "t.yaml")


def test_a_study_refuses_onnx_scoring_off_the_cpu(tmp_path):
    from autoprune.study import Study
    from autoprune.study.spec import parse_spec

    spec = parse_spec({"name": "t", "budgets": [0.5], "families": {"siamrpn": {"preset": "tiny"}}, "methods": {"uniform": {}},
                       "eval_runtime": "onnx", "out": str(tmp_path / "t")}, tmp_path / "t.yaml")
    with pytest.raises(ConfigError, match="eval_runtime onnx tracks in ONNX Runtime on the CPU, not on cuda"):
        Study(spec, progress=False, device="cuda")
