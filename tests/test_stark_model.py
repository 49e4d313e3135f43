"""STARK family: the published counts, presets, records, a hand-pruned record's cost and padding masks.

What every family must do (layouts, costs, rebuilds, tracking, export) is in test_family_conformance.py.
"""
from __future__ import annotations

import copy
import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import trackers
from autoprune.cost import count_macs, count_macs_hooks
from autoprune.errors import ConfigError
from conftest import seeded_outputs

FAMILY = trackers.get("stark")


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


def test_s50_has_the_published_parameter_count():
    with torch.device("meta"):
        model = FAMILY.create("s50")
    assert sum(p.numel() for p in model.parameters()) == 28_095_554


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


def test_outputs_are_corner_maps_and_a_normalised_box():
    out = seeded_outputs(FAMILY, pruned_record())
    assert out["boxes"].shape == (2, 4) and out["score_maps"].shape == (2, 2, 8, 8)
    assert (out["boxes"] >= 0).all() and (out["boxes"] <= 1).all()


def _counted(model, arch):
    z, x = FAMILY.example_inputs(arch, batch=1)
    with torch.no_grad():
        with FlopCounterMode(display=False) as init:
            cache = model.template(z)
        with FlopCounterMode(display=False) as frame:
            model.track(cache, x)
    return frame.get_total_flops() // 2, init.get_total_flops() // 2, cache, x


def test_a_hand_pruned_record_costs_what_is_counted():
    """Heads that do not multiply out to d_model, unequal attention in one decoder layer."""
    arch = pruned_record()
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
        (lambda r: r.update(d_model=62), "a multiple of 4"),
    ],
)
def test_bad_records_are_rejected(edit, message):
    rec = copy.deepcopy(FAMILY.arch("tiny"))
    edit(rec)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        FAMILY.validate_arch(rec)


def test_crop_factors_come_from_the_record():
    rec = pruned_record()
    assert math.isclose(FAMILY.crop_spec(rec).search_factor, 4.0)
    assert math.isclose(FAMILY.crop_spec(FAMILY.arch("s50")).search_factor, 5.0)
