"""STARK pruning binding: groups slice exactly, the engine removes heads, units and layers, masks on a child."""
from __future__ import annotations

import numpy as np
import torch

import trackers
from autoprune.checkpoint import load_strict
from autoprune.prune.apply import PruneConfig, apply, slice_state
from autoprune.prune.groups import Selection
from conftest import builtin_val_sequence
from test_stark_model import pruned_record

FAMILY = trackers.get("stark")


def _random_keep(groups, rng):
    keep = {}
    for g in groups:
        # d_model changes LayerNorm statistics and the sine code: not an exact removal.
        n = g.size if g.name == "d_model" else int(rng.integers(1, g.size + 1))
        keep[g.name] = sorted(rng.choice(g.size, size=n, replace=False).tolist())
    return keep


def _zero_dropped(state, groups, keep):
    """Zero what reads the dropped units (conv inputs, out_proj / linear2 columns): the parent
    then computes exactly what the sliced child computes."""
    state = {k: v.clone() for k, v in state.items()}
    for g in groups:
        dropped = sorted(set(range(g.size)) - set(keep[g.name]))
        for m in g.members:
            if m.dim == 1 and dropped:
                idx = torch.tensor([u * g.unit + j for u in dropped for j in range(g.unit)])
                state[m.key].index_fill_(1, idx, 0.0)
    return state


def test_unit_groups_slice_exactly():
    torch.manual_seed(0)
    arch = FAMILY.arch("tiny")
    parent = FAMILY.build(arch).eval()
    for module in parent.modules():  # non-trivial BatchNorm statistics everywhere
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    groups = FAMILY.unit_groups(arch)
    blocks = FAMILY.blocks(arch)
    keys = set(parent.state_dict())
    assert all(m.key in keys for g in groups for m in g.members)
    assert len({g.name for g in groups}) == len(groups)
    keep = _random_keep(groups, np.random.default_rng(0))
    state = _zero_dropped(parent.state_dict(), groups, keep)
    # Dropping a bottleneck equals zeroing its last BatchNorm (identity shortcut survives).
    state["backbone.0.body.layer3.1.bn3.weight"].zero_()
    state["backbone.0.body.layer3.1.bn3.bias"].zero_()
    parent.load_state_dict(state)
    selection = Selection(keep=keep, drop_blocks={"layer3.1"})
    child_arch = FAMILY.validate_arch(FAMILY.child_arch(arch, selection.counts(), selection.drop_blocks))
    child = FAMILY.build(child_arch).eval()
    load_strict(child, slice_state(state, groups, blocks, selection), source="sliced parent")
    z, x = FAMILY.example_inputs(arch, batch=2)
    with torch.no_grad():
        expected, got = parent(z, x), child(z, x)
    assert torch.allclose(expected["score_maps"], got["score_maps"], atol=1e-5)
    assert torch.allclose(expected["boxes"], got["boxes"], atol=1e-6)
    assert FAMILY.analytic_cost(child_arch)["frame_macs"] < FAMILY.analytic_cost(arch)["frame_macs"]


def test_prune_engine_removes_heads_units_and_layers():
    torch.manual_seed(0)
    parent = FAMILY.create("tiny").eval()
    config = PruneConfig(
        keep={"encoder.0.heads": 1, "encoder.1.ffn": 40, "layer2.0.inner1": 9, "head.tl.2": 5, "d_model": 48},
        depth={"transformer.encoder.layers": 1, "transformer.decoder.layers": 0, "backbone.0.body.layer3": 0},
    )
    child, arch = apply(parent, config)
    assert len(arch["encoder"]) == 1 and arch["decoder"] == []
    assert len(arch["backbone"]["stages"][2]["blocks"]) == 1
    assert arch["backbone"]["stages"][1]["blocks"][0][0] == 9 and arch["head"]["tl"][1] == 5
    assert arch["d_model"] == 48
    assert sum(p.numel() for p in child.parameters()) == FAMILY.analytic_cost(arch)["params"]
    z, x = FAMILY.example_inputs(arch)
    with torch.no_grad():
        assert torch.isfinite(child(z, x)["boxes"]).all()


def test_a_pruned_model_tracks_with_stark_s_padding_masks():
    """The official settings mask the crops' zero padding: a pruned record's attention takes the mask."""
    torch.manual_seed(0)
    model = FAMILY.build(pruned_record()).eval()
    seq = builtin_val_sequence()
    masked = FAMILY.make_tracker(model, "official")
    assert masked.mask_padding
    masked.init(seq.image(0), seq.boxes[0])
    for i in range(1, 4):
        box = masked.update(seq.image(i))
        assert np.isfinite(box).all() and (box[2:] >= 10).all()  # clipped to STARK's 10-pixel margin
