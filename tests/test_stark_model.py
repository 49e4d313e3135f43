"""STARK family: official layout, presets, records, analytic cost against counted cost."""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import trackers
from autoprune.cost import count_macs, count_macs_hooks
from autoprune.errors import ConfigError

FAMILY = trackers.get("stark")
OFFICIAL_LAYOUT = Path(__file__).parent / "data" / "stark_s50.json"


def pruned_record() -> dict:
    """A tiny record pruned everywhere: inner widths, stage widths, heads (heads*head_dim != d_model),
    FFN units, depth, head branches."""
    rec = FAMILY.arch("tiny")
    rec["backbone"]["stem"] = 12
    rec["backbone"]["stages"][0] = {"out": 24, "blocks": [[10, 7]]}
    rec["backbone"]["stages"][1]["blocks"] = [[20, 13]]
    rec["backbone"]["stages"][2] = {"out": 96, "blocks": [[40, 33], [17, 50]]}
    rec["encoder"] = [{"self_attn": {"heads": 1, "head_dim": 32}, "ffn": 40}]
    rec["decoder"] = [{"self_attn": {"heads": 3, "head_dim": 32}, "multihead_attn": {"heads": 1, "head_dim": 32}, "ffn": 7}]
    rec["head"] = {"tl": [30, 20, 9, 5], "br": [64, 11, 16, 3]}
    return FAMILY.validate_arch(rec)


def test_s50_matches_official_layout():
    layout = json.loads(OFFICIAL_LAYOUT.read_text())
    model = FAMILY.create("s50")
    state = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert state == layout  # same keys, same shapes (460 keys)
    assert list(state) == list(layout)  # and the official order
    assert sum(p.numel() for p in model.parameters()) == 28_095_554
    assert FAMILY.analytic_cost(model.arch)["params"] == 28_095_554
    assert FAMILY.preset("s50").official and FAMILY.official_preset == "s50"


def test_s50_macs_match_published():
    cost = FAMILY.analytic_cost(FAMILY.arch("s50"))
    assert abs(cost["frame_macs_hooks"] - 10.5e9) / 10.5e9 < 0.02  # paper / plain thop figure
    assert 12.0e9 < cost["frame_macs"] < 12.4e9  # with attention projections and products
    assert 1.0e9 < cost["init_macs"] < 1.2e9  # the 128x128 template, once per sequence


def test_presets():
    assert FAMILY.default_preset == "tiny"
    assert set(FAMILY.presets) >= {"s50", "mini", "tiny"}
    tiny = FAMILY.analytic_cost(FAMILY.arch("tiny"))
    assert tiny["frame_macs"] < 0.1e9 and tiny["params"] < 1e6
    mini = FAMILY.arch("mini")
    assert mini["d_model"] == 96 and len(mini["encoder"]) == len(mini["decoder"]) == 4
    assert all(layer["ffn"] == 768 and layer["self_attn"]["heads"] == 4 for layer in mini["encoder"])


def test_mini_builds_and_runs():
    torch.manual_seed(0)
    model = FAMILY.create("mini").eval()
    assert FAMILY.analytic_cost(model.arch)["params"] == sum(p.numel() for p in model.parameters())
    z, x = FAMILY.example_inputs(model.arch)
    with torch.no_grad():
        out = model(z, x)
    assert out["boxes"].shape == (1, 4) and out["score_maps"].shape == (1, 2, 20, 20)
    assert torch.isfinite(out["boxes"]).all() and (out["boxes"] >= 0).all() and (out["boxes"] <= 1).all()


def _counted(model, arch):
    z, x = FAMILY.example_inputs(arch, batch=1)
    with torch.no_grad():
        with FlopCounterMode(display=False) as init:
            cache = model.template(z)
        with FlopCounterMode(display=False) as frame:
            model.track(cache, x)
    return frame.get_total_flops() // 2, init.get_total_flops() // 2, cache, x


@pytest.mark.parametrize("record", ["tiny", "pruned"])
def test_analytic_cost_equals_counted(record):
    arch = pruned_record() if record == "pruned" else FAMILY.arch(record)
    model = FAMILY.build(arch).eval()
    frame, init, cache, x = _counted(model, arch)
    cost = FAMILY.analytic_cost(arch)
    assert (cost["frame_macs"], cost["init_macs"]) == (frame, init)
    assert cost["params"] == sum(p.numel() for p in model.parameters())
    assert cost["frame_macs"] == int(count_macs(model.track, cache, x))
    assert cost["frame_macs_hooks"] == int(count_macs_hooks(model.track, cache, x))


def test_pruned_record_runs_with_padding_masks():
    arch = pruned_record()
    model = FAMILY.build(arch).eval()
    z, x = FAMILY.example_inputs(arch, batch=2)
    mask_z = torch.zeros(2, 64, 64, dtype=torch.bool)
    mask_x = torch.zeros(2, 128, 128, dtype=torch.bool)
    mask_x[0, :, :40] = True
    with torch.no_grad():
        plain = model.track(model.template(z), x)["boxes"]
        masked = model.track(model.template(z, mask_z), x, mask_x)["boxes"]
    assert torch.allclose(plain[1], masked[1])  # no padding: same result
    assert not torch.allclose(plain[0], masked[0])  # padding changes attention and positions


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda r: r.update(search_size=100), "multiple of 16"),
        (lambda r: r.update(version=2), "newer"),
        (lambda r: r.update(colour="red"), "unknown keys"),
        (lambda r: r["encoder"][0].update(ffn=0), "encoder[0].ffn"),
        (lambda r: r["backbone"]["stages"][1].update(blocks=[]), "backbone.stages[1].blocks"),
        (lambda r: r.update(decoder={}), "decoder"),
        (lambda r: r["head"].update(tl=[8, 8, 8]), "head.tl"),
        (lambda r: r.update(d_model=63), "even"),
    ],
)
def test_bad_records_are_rejected(edit, message):
    rec = copy.deepcopy(FAMILY.arch("tiny"))
    edit(rec)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        FAMILY.validate_arch(rec)


def test_record_is_json_and_roundtrips():
    rec = pruned_record()
    assert FAMILY.validate_arch(json.loads(json.dumps(rec))) == rec
    assert math.isclose(FAMILY.crop_spec(rec).search_factor, 4.0)
    assert math.isclose(FAMILY.crop_spec(FAMILY.arch("s50")).search_factor, 5.0)
