"""OSTrack network: the official checkpoints' wrapper and count, CE, MACs, records, pruning.

What every family must do (layouts, costs, rebuilds, tracking, export) is in test_family_conformance.py.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import trackers
from autoprune.checkpoint import load_strict
from autoprune.errors import ConfigError
from conftest import seeded_outputs
from trackers.ostrack.arch import token_schedule

OFFICIAL_LAYOUT = Path(__file__).parent / "data" / "layouts" / "ostrack-vitb-256-ce.json"
FAMILY = trackers.get("ostrack")


def _pruned_record() -> dict:
    """As a pruner writes it: unequal heads, head widths and MLPs, blocks removed, CE moved."""
    rec = FAMILY.arch("small")
    rec["embed_dim"] = 80
    rec["blocks"] = [
        {"heads": 3, "head_dim": 32, "mlp": 160},
        {"heads": 1, "head_dim": 24, "mlp": 40, "scale": 32 ** -0.5},  # channels pruned inside the head
        {"heads": 2, "head_dim": 32, "mlp": 72},
    ]
    rec["ce"] = {"blocks": [1, 2], "keep_ratio": 0.6, "template": "center"}
    rec["head"] = {"ctr": [40, 24, 16, 8], "offset": [64, 8, 24, 4], "size": [16, 48, 8, 16]}
    return FAMILY.validate_arch(rec)


def test_both_vitb_presets_hold_the_official_layout_and_parameter_count():
    official = json.loads(OFFICIAL_LAYOUT.read_text())
    for preset in ("vitb-256-ce", "vitb-256"):  # CE changes no weight
        with torch.device("meta"):  # no memory, no init: the layout is what matters here
            model = FAMILY.build(FAMILY.arch(preset))
        assert {k: list(v.shape) for k, v in model.state_dict().items()} == official
        assert sum(p.numel() for p in model.parameters()) == 92_518_533


def test_vitb_macs_match_the_paper():
    ce = FAMILY.analytic_cost(FAMILY.arch("vitb-256-ce"))
    plain = FAMILY.analytic_cost(FAMILY.arch("vitb-256"))
    assert abs(ce["frame_macs_hooks"] / 21.5e9 - 1) < 0.02  # OSTrack-256: "21.5 G FLOPs"
    assert abs(ce["head_macs"] / 1.66e9 - 1) < 0.01
    assert ce["frame_macs"] > ce["frame_macs_hooks"] > 0.7 * plain["frame_macs_hooks"]
    assert abs(plain["frame_macs_hooks"] / 29.0e9 - 1) < 0.02
    assert ce["init_macs"] == 64 * 768 * 768  # the template's patch embedding only
    assert ce["frame_macs_hooks"] == ce["frame_macs"] - ce["attention_macs"]
    # 256 -> 180 -> 126 -> 89 search tokens after blocks 3, 6 and 9
    assert [s for _, s in token_schedule(FAMILY.arch("vitb-256-ce"))] == [256] * 3 + [180] * 3 + [126] * 3 + [89] * 3


def test_outputs_are_maps_and_boxes_and_ce_keeps_as_many_tokens_as_the_record_says():
    arch = _pruned_record()
    out = seeded_outputs(FAMILY, arch)
    side = arch["search_size"] // arch["patch_size"]
    assert out["score_map"].shape == (2, 1, side, side)
    assert out["size_map"].shape == out["offset_map"].shape == (2, 2, side, side)
    assert out["boxes"].shape == (2, 4)
    kept = out["kept_index"]
    assert kept.shape == (2, token_schedule(arch)[-1][1])
    assert all(len(set(row.tolist())) == kept.shape[1] for row in kept)


def test_candidate_elimination_keeps_the_tokens_the_template_centre_attends_to():
    from trackers.ostrack.vit import candidate_elimination

    nz, ns, dim = 16, 10, 4
    tokens = torch.arange(nz + ns, dtype=torch.float32)[None, :, None].expand(1, -1, dim)
    attn = torch.zeros(1, 2, nz + ns, nz + ns)
    attn[0, 0, 5, nz + 7] = 1.0  # the centre token (5 for a 4x4 template) looks at search token 7
    attn[0, 1, 5, nz + 2] = 0.8
    attn[0, :, 0, nz + 9] = 5.0  # another template token: ignored
    out, kept = candidate_elimination(tokens, attn, num_template=nz, keep_ratio=0.2, template_index=5)
    assert kept.tolist() == [[7, 2]]  # ceil(0.2 * 10) = 2, best first
    assert out[0, nz:, 0].tolist() == [nz + 7, nz + 2] and torch.equal(out[0, :nz], tokens[0, :nz])
    _, kept_all = candidate_elimination(tokens, attn, num_template=nz, keep_ratio=0.1, template_index=None)
    assert kept_all.tolist() == [[9]]


def test_ce_keep_ratio_warms_up_during_training_only():
    model = FAMILY.build(FAMILY.arch("tiny"))
    z, x = FAMILY.example_inputs(model.arch)
    model.train()
    model.set_progress(0.0)
    assert model.keep_ratio() == 1.0 and "kept_index" not in model(z, x)
    model.set_progress(0.45)
    assert 0.7 < model.keep_ratio() < 1.0
    model.set_progress(1.0)
    assert model.keep_ratio() == pytest.approx(0.7)
    model.set_progress(0.0)
    model.eval()
    assert model.keep_ratio() == pytest.approx(0.7) and "kept_index" in model(z, x)


def test_small_presets_are_small():
    for name in ("tiny", "small"):
        cost = FAMILY.analytic_cost(FAMILY.arch(name))
        assert cost["frame_macs"] < 0.5e9 and cost["params"] < 2e6
    assert FAMILY.default_preset == "tiny" and FAMILY.official_preset == "vitb-256-ce"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda r: r.update(version=2), ["version 2"]),
        (lambda r: r.update(embed_dim=0), ["embed_dim", "positive integer"]),
        (lambda r: r.update(search_size=130), ["search_size", "multiple of patch_size"]),
        (lambda r: r["blocks"][1].update(heads=-1), ["blocks[1].heads"]),
        (lambda r: r["blocks"][0].update(width=3), ["unknown key", "width"]),
        (lambda r: r.update(blocks=[]), ["blocks", "non-empty"]),
        (lambda r: r["ce"].update(blocks=[7]), ["ce.blocks", "0..3"]),
        (lambda r: r["ce"].update(keep_ratio=0.0), ["ce.keep_ratio"]),
        (lambda r: r["head"].update(ctr=[8, 8]), ["head.ctr", "4 positive integers"]),
        (lambda r: r.update(colour="red"), ["unknown key", "colour"]),
    ],
)
def test_bad_records_name_the_problem(change, words):
    rec = copy.deepcopy(FAMILY.arch("tiny"))
    change(rec)
    with pytest.raises(ConfigError) as err:
        FAMILY.validate_arch(rec)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_a_missing_scale_defaults_to_head_dim():
    rec = _pruned_record()
    del rec["blocks"][0]["scale"]
    assert FAMILY.validate_arch(rec)["blocks"][0]["scale"] == 32 ** -0.5


def _prune(model, keep, depth=None):
    from autoprune.prune.apply import PruneConfig, apply

    return apply(model, PruneConfig(keep=keep, depth=depth or {}))


def test_pruning_whole_units_equals_zeroing_them_in_the_parent():
    """Removing heads / MLP units / head channels for real = silencing them in the parent."""
    torch.manual_seed(0)
    rec = FAMILY.arch("tiny")
    rec["ce"]["blocks"] = []  # CE ranks tokens by all heads' attention: a silenced head would still vote
    parent = FAMILY.build(rec).eval()
    with torch.no_grad():  # make the units we prune the weakest, so magnitude pruning picks them
        blk = parent.backbone.blocks[1]
        blk.attn.proj.weight[:, 32:] = 0  # head 1 of 2 contributes nothing
        blk.mlp.fc2.weight[:, :50] = 0  # first 50 hidden units contribute nothing
        blk.mlp.fc1.weight[:50] *= 1e-3
        blk.mlp.fc1.bias[:50] = 0
    child, arch = _prune(parent, {"blocks.1.heads": 1, "blocks.1.mlp": 78})
    assert arch["blocks"][1]["heads"] == 1 and arch["blocks"][1]["mlp"] == 78
    assert arch["blocks"][1]["scale"] == parent.arch["blocks"][1]["scale"]
    z, x = FAMILY.example_inputs(rec)
    with torch.no_grad():
        a, b = parent(z, x), child(z, x)
    for key in ("score_map", "size_map", "offset_map"):
        assert torch.allclose(a[key], b[key], atol=1e-5), key


def test_pruning_blocks_moves_ce_and_cost_stays_exact():
    torch.manual_seed(0)
    parent = FAMILY.build(FAMILY.arch("small")).eval()
    keep = {"embed": 64, "blocks.0.heads": 2, "blocks.3.mlp": 100, "head.size.2": 20}
    child, arch = _prune(parent, keep, {"backbone.blocks": 2})
    assert len(arch["blocks"]) == 2 and arch["embed_dim"] == 64
    assert len(arch["ce"]["blocks"]) <= 1
    z, x = FAMILY.example_inputs(arch)
    with torch.no_grad():
        cache = child.template(z)
        with FlopCounterMode(display=False) as frame:
            out = child.track(cache, x)
    assert torch.isfinite(out["boxes"]).all()
    assert FAMILY.analytic_cost(arch)["frame_macs"] == frame.get_total_flops() // 2
    assert FAMILY.analytic_cost(arch)["params"] == sum(p.numel() for p in child.parameters())
    load_strict(FAMILY.build(arch), child.state_dict())


def test_ce_follows_the_surviving_blocks():
    rec = FAMILY.arch("vitb-256-ce")
    assert FAMILY.child_arch(rec, {}, set())["ce"]["blocks"] == [3, 6, 9]
    child = FAMILY.child_arch(rec, {}, {"blocks.3", "blocks.9"})  # 3 -> old 4, 9 -> old 10
    assert len(child["blocks"]) == 10 and child["ce"]["blocks"] == [3, 5, 8]
    child = FAMILY.child_arch(rec, {}, {f"blocks.{i}" for i in range(6, 12)})  # nothing after 6 survives
    assert child["ce"]["blocks"] == [3]
    assert FAMILY.validate_arch(child) == child
