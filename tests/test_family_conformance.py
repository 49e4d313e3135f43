"""Every registered tracker family passes the same checks; a new family gets them by registering.

Parametrized over ``trackers.names()``: the folder's contract files, every preset built with
its analytic cost equal to the counted cost, the official layout loaded strictly, checkpoints
in every official wrapper loaded as trained weights, forward =
track(template), prune -> rebuild from the record -> same outputs, a few training steps
lowering the loss, a built-in sequence tracked, export -> load -> same boxes, and ONNX ->
same boxes. Full-size presets are built on the meta device (no memory, no arithmetic);
forward passes run on small presets only. What is specific to a family (its published
figures, official checkpoint wrappers, its geometry) stays in that family's own tests.
"""
from __future__ import annotations

import importlib
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import autoprune
import trackers
from autoprune import loading
from autoprune.checkpoint import load_strict, save_safetensors
from autoprune.errors import CheckpointError
from conftest import builtin_val_sequence, pruned_child, smallest_preset, track_steps

FAMILIES = trackers.names()
PRESETS = [(name, preset) for name in FAMILIES for preset in trackers.get(name).presets]
FORWARD_MACS = 1e9  # forward passes only on presets below this many per-frame MACs
RUNNABLE = [(name, preset) for name, preset in PRESETS
            if trackers.get(name).analytic_cost(trackers.get(name).arch(preset))["frame_macs"] < FORWARD_MACS]
LAYOUTS = Path(__file__).parent / "data" / "layouts"  # <family>-<official preset>.json: key -> shape
# The files of a family folder, by the job each does (docs/adding-a-family.md).
CONTRACT_FILES = ("__init__.py", "arch.py", "cost.py", "family.py", "loss.py", "model.py", "presets.py",
                  "pruning.py", "tracker.py", "space.yaml")


def _tensors(out) -> dict[str, torch.Tensor]:
    return {k: v for k, v in out.items() if torch.is_tensor(v)}


def _counted(model, z, x) -> dict[str, int]:
    with torch.no_grad():
        with FlopCounterMode(display=False) as init:
            cache = model.template(z)
        with FlopCounterMode(display=False) as frame:
            model.track(cache, x)
    return {"frame_macs": frame.get_total_flops() // 2, "init_macs": init.get_total_flops() // 2,
            "params": sum(p.numel() for p in model.parameters())}


def _meta_model(family, preset):
    arch = family.arch(preset)
    spec = family.crop_spec(arch)
    with torch.device("meta"):
        model = family.build(arch).eval()
        z = torch.empty(1, 3, spec.template_size, spec.template_size)
        x = torch.empty(1, 3, spec.search_size, spec.search_size)
    return model, z, x


@pytest.fixture(scope="module")
def children():
    """name -> (child, arch): each family's smallest preset pruned by a random point of its space."""
    return {name: pruned_child(trackers.get(name), smallest_preset(trackers.get(name))) for name in FAMILIES}


@pytest.fixture(scope="module")
def exports(children, tmp_path_factory):
    """name -> the export directory (with ONNX when onnx is installed) of that family's child."""
    from autoprune.export import export_model

    onnx = importlib.util.find_spec("onnxruntime") is not None
    root = tmp_path_factory.mktemp("exports")
    return {name: export_model(trackers.get(name), child, root / name, onnx=onnx) for name, (child, _) in children.items()}


# --- the folder and its registration ----------------------------------------------------
@pytest.mark.parametrize("name", FAMILIES)
def test_the_folder_holds_the_contract_and_registers_its_family(name):
    from autoprune.commands._common import tracker_choices
    from autoprune.prune.pruner import Pruner
    from autoprune.prune.space import load_space

    folder = Path(trackers.__file__).parent / name
    assert [f for f in CONTRACT_FILES if not (folder / f).is_file()] == []
    family = trackers.get(name)
    assert family.name == name and name in trackers.available()
    assert importlib.import_module(f"trackers.{name}.family").FAMILY is family
    assert family.preset(family.official_preset).official and not family.preset(family.default_preset).official
    assert family.settings is not None and family.resolve_hparams() == family.resolve_hparams(family.settings.default)
    assert name in tracker_choices()  # command-line help lists the registered folders
    space = load_space(name)
    assert space.family == name and space.source == f"trackers/{name}/space.yaml"
    Pruner(family.create(smallest_preset(family)).eval(), space)  # every knob binds to the family's groups


# --- architecture and cost --------------------------------------------------------------
@pytest.mark.parametrize(("name", "preset"), PRESETS)
def test_every_preset_builds_from_its_record_at_its_analytic_cost(name, preset):
    family = trackers.get(name)
    arch = family.arch(preset)
    assert family.validate_arch(json.loads(json.dumps(arch))) == arch  # records are JSON and normalised
    model, z, x = _meta_model(family, preset)
    assert model.arch == arch
    cost = family.analytic_cost(arch)
    assert {k: cost[k] for k in ("frame_macs", "init_macs", "params")} == _counted(model, z, x)


@pytest.mark.parametrize("name", FAMILIES)
def test_the_official_layout_loads_strictly(name):
    family = trackers.get(name)
    layout = json.loads((LAYOUTS / f"{name}-{family.official_preset}.json").read_text())
    model, _, _ = _meta_model(family, family.official_preset)
    assert [[k, list(v.shape)] for k, v in model.state_dict().items()] == [[k, v] for k, v in layout.items()]
    state = {k: torch.empty(shape, device="meta") for k, shape in layout.items()}
    load_strict(model, state)
    state.pop(next(iter(state)))
    with pytest.raises(CheckpointError, match="1 missing") as err:
        load_strict(model, state)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", FAMILIES)
def test_a_checkpoint_in_any_official_wrapper_loads_strictly_as_trained_weights(name, tmp_path):
    """pysot saves {"state_dict": ...}, OSTrack {"net": ...}: every wrapper of autoprune.checkpoint loads."""
    from autoprune.checkpoint import _WRAPPER_KEYS

    family = trackers.get(name)
    preset = smallest_preset(family)
    torch.manual_seed(0)
    model = family.create(preset)
    for wrapper in (None, *_WRAPPER_KEYS):
        path = tmp_path / f"{wrapper}.pth"
        torch.save(model.state_dict() if wrapper is None else {wrapper: model.state_dict(), "epoch": 1}, path)
        loaded = family.create(preset, checkpoint=str(path))
        assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
        assert all(getattr(loaded, flag) is True for flag in family.inherited_flags)
    other = next(p for n, p in RUNNABLE if n == name and p != preset)  # another small preset: other shapes
    wrong = tmp_path / "other.pth"
    torch.save(family.create(other).state_dict(), wrong)
    with pytest.raises(CheckpointError) as err:
        family.load_checkpoint(loaded, str(wrong))
    assert "\n" not in str(err.value) and str(wrong) in str(err.value)


@pytest.mark.parametrize(("name", "preset"), RUNNABLE)
def test_forward_is_track_of_the_cached_template(name, preset):
    family = trackers.get(name)
    torch.manual_seed(0)
    model = family.create(preset).eval()
    z, x = family.example_inputs(model.arch, batch=2)
    with torch.no_grad():
        cache = model.template(z)
        out, again = _tensors(model.track(cache, x)), _tensors(model(z, x))
    assert isinstance(cache, tuple) and out
    for key, value in out.items():
        assert value.shape[0] == 2 and torch.isfinite(value.float()).all(), key
        assert torch.equal(value, again[key]), key


# --- pruning ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", FAMILIES)
def test_a_pruned_child_rebuilds_from_its_record_with_the_same_outputs(name, children, tmp_path):
    from autoprune.cost import count_macs_hooks

    family = trackers.get(name)
    child, arch = children[name]
    assert child.arch == arch and arch != family.arch(smallest_preset(family))
    path = tmp_path / "child.safetensors"
    save_safetensors(child.state_dict(), path, metadata=family.weights_metadata(child))
    loaded_family, rebuilt = loading.load(path)
    assert loaded_family is family and rebuilt.arch == arch and not rebuilt.training
    z, x = family.example_inputs(arch)
    with torch.no_grad():
        a, b = _tensors(child(z, x)), _tensors(rebuilt(z, x))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    cost = family.analytic_cost(arch)
    assert {k: cost[k] for k in ("frame_macs", "init_macs", "params")} == _counted(child, z, x)
    if "frame_macs_hooks" in cost:  # what a thop-style hook count sees (no attention products)
        with torch.no_grad():
            cache = child.template(z)
        assert cost["frame_macs_hooks"] == int(count_macs_hooks(child.track, cache, x))


# --- training --------------------------------------------------------------------------
@pytest.mark.parametrize("name", FAMILIES)
def test_a_few_training_steps_lower_the_loss_on_a_fixed_batch(name):
    from autoprune.train import train
    from conftest import builtin_train_pairs

    family = trackers.get(name)
    preset = smallest_preset(family)
    torch.manual_seed(0)
    model = family.create(preset)
    batch = next(builtin_train_pairs(family, preset, batch_size=8, seed=3))
    result = train(family, model, itertools.repeat(batch), steps=10, progress=False)
    assert result.steps == 10 and all(np.isfinite(result.losses))
    assert np.mean(result.losses[-3:]) < 0.9 * np.mean(result.losses[:3])


# --- tracking --------------------------------------------------------------------------
@pytest.mark.parametrize("name", FAMILIES)
def test_the_default_parent_tracks_a_builtin_sequence_with_its_template_cached(name):
    from autoprune.models import load_shipped

    family = trackers.get(name)
    torch.manual_seed(0)
    model = family.create(family.default_preset).eval()
    load_shipped(family, model)  # the demo parent where one ships; random weights otherwise
    calls = {"template": 0, "track": 0}
    for path in calls:  # count the two paths: the template runs once, at init
        def counted(*args, _run=getattr(model, path), _path=path, **kwargs):
            calls[_path] += 1
            return _run(*args, **kwargs)
        setattr(model, path, counted)
    sequence = builtin_val_sequence()
    tracker = family.make_tracker(model)
    with pytest.raises(RuntimeError, match="init"):
        tracker.update(sequence.image(0))
    tracker.init(sequence.image(0), sequence.boxes[0])
    height, width = sequence.image(0).shape[:2]
    for i in range(1, len(sequence)):
        box = tracker.update(sequence.image(i))
        assert box.shape == (4,) and np.isfinite(box).all() and (box[2:] > 0).all()
        assert 0 <= box[0] + box[2] / 2 <= width and 0 <= box[1] + box[3] / 2 <= height
    assert calls == {"template": 1, "track": len(sequence) - 1}


@pytest.mark.parametrize("name", FAMILIES)
def test_tracker_settings_are_checked_by_name_and_by_key(name):
    from autoprune.errors import ConfigError

    family = trackers.get(name)
    model = family.create(smallest_preset(family))
    for settings in family.hparams:
        family.make_tracker(model, settings)
    with pytest.raises(ConfigError, match="valid: " + ", ".join(sorted(family.hparams))):
        family.make_tracker(model, "no-such-settings")
    with pytest.raises(ConfigError, match="unknown"):
        family.make_tracker(model, {**family.hparams[family.settings.default], "no_such_key": 1.0})


# --- export ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", FAMILIES)
def test_an_export_loads_back_and_tracks_the_same_boxes(name, children, exports):
    family = trackers.get(name)
    child, arch = children[name]
    sequence = builtin_val_sequence()
    expected = track_steps(family.make_tracker(child), sequence, 8)
    loaded = autoprune.load(exports[name])
    assert loaded.model.arch == arch
    np.testing.assert_array_equal(track_steps(loaded, sequence, 8), expected)


@pytest.mark.parametrize("name", FAMILIES)
def test_onnx_runtime_tracks_the_same_boxes(name, exports):
    pytest.importorskip("onnxruntime")
    sequence = builtin_val_sequence()
    boxes = {}
    for runtime in ("torch", "onnx"):
        tracker = autoprune.load(exports[name], runtime=runtime)
        boxes[runtime] = track_steps(tracker, sequence, 12)
    frame_path = tracker.model.__dict__["track"]
    assert type(frame_path).__name__ == "OnnxFramePath" and frame_path.fallbacks == 0  # the graph ran every frame
    np.testing.assert_allclose(boxes["onnx"], boxes["torch"], atol=1e-2)
