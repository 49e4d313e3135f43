"""Real removal on every family: random configs prune, run, rebuild from the record, match."""
from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trackers
from autoprune.checkpoint import save_safetensors, read_state_dict
from autoprune.errors import ConfigError
from autoprune.prune.apply import PruneConfig, apply
from autoprune.prune.importance import BNScale, Magnitude, Random, Taylor
from autoprune.prune.pruner import Pruner
from autoprune.prune.space import load_space

FAMILIES = trackers.names()


def _small(name):
    family = trackers.get(name)
    torch.manual_seed(0)
    model = family.create(family.default_preset).eval()
    return family, model


def _outputs(model, z, x):
    with torch.no_grad():
        out = model(z, x)
    return {k: v for k, v in out.items() if torch.is_tensor(v)}


@pytest.mark.parametrize("name", FAMILIES)
def test_space_binds_and_full_config_is_identity(name):
    family, model = _small(name)
    pruner = Pruner(model, load_space(name))
    child, arch = pruner.prune(pruner.space.full())
    assert arch == model.arch
    z, x = family.example_inputs(arch)
    a, b = _outputs(model, z, x), _outputs(child, z, x)
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


@pytest.mark.parametrize("name", FAMILIES)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_configs_prune_run_rebuild_and_reload(name, data, tmp_path):
    family, model = _small(name)
    pruner = Pruner(model, load_space(name), Random(seed=data.draw(st.integers(0, 99))))
    values = {}
    for knob in pruner.space.knobs:
        if knob.is_depth:
            top = min(int(knob.high), pruner.space.containers[knob.name])
            values[knob.name] = data.draw(st.integers(min(int(knob.low), top), top))
        else:
            values[knob.name] = data.draw(st.floats(knob.low, knob.high))
    before = copy.deepcopy(model.state_dict())
    child, arch = pruner.prune(values)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "the parent was modified"
    cost = family.analytic_cost(arch)
    assert cost["params"] == sum(p.numel() for p in child.parameters())
    assert cost["frame_macs"] <= family.analytic_cost(model.arch)["frame_macs"]
    z, x = family.example_inputs(arch)
    out = _outputs(child, z, x)
    assert all(torch.isfinite(v).all() for v in out.values())
    path = tmp_path / f"child-{name}.safetensors"
    save_safetensors(child.state_dict(), path)
    rebuilt = family.build(family.validate_arch(arch))
    rebuilt.load_state_dict(read_state_dict(path))
    rebuilt.eval()
    again = _outputs(rebuilt, z, x)
    assert all(torch.equal(out[k], again[k]) for k in out)


@pytest.mark.parametrize("name", FAMILIES)
def test_kept_units_are_the_most_important(name):
    family, model = _small(name)
    groups = family.unit_groups(model.arch)
    group = max(groups, key=lambda g: g.size)
    keep = max(group.min_keep, group.size // 2)
    child, arch = apply(model, PruneConfig(keep={group.name: keep}), Magnitude(1))
    member = next(m for m in group.members if m.kind == "weight")
    parent_w = model.state_dict()[member.key]
    child_w = child.state_dict()[member.key]
    assert child_w.shape[member.dim] == keep * group.unit * member.chunks
    from autoprune.prune.importance import unit_view

    scores = Magnitude(1).unit_scores(model.state_dict(), [group])[group.name]
    best = sorted(torch.argsort(-scores, stable=True)[:keep].tolist())
    # the child's first kept unit equals the parent's best-ranked unit of lowest index
    first = unit_view(parent_w, member, group)[best[0]]
    reduced = type(group)(group.name, keep, group.members, group.unit)
    assert torch.equal(unit_view(child_w, member, reduced)[0], first)


@pytest.mark.parametrize("name", FAMILIES)
def test_invalid_config_is_a_clear_error(name):
    family, model = _small(name)
    group = family.unit_groups(model.arch)[0]
    with pytest.raises(ConfigError, match="outside"):
        apply(model, PruneConfig(keep={group.name: group.size + 1}))
    with pytest.raises(ConfigError, match="unknown group"):
        apply(model, PruneConfig(keep={"no.such.group": 1}))


def test_criteria_are_deterministic_and_differ():
    family, model = _small("siamrpn")
    config = PruneConfig(keep={g.name: max(1, g.size // 2) for g in family.unit_groups(model.arch)})
    results = {}
    for crit in (Magnitude(1), Magnitude(2), BNScale(), Random(0)):
        a, _ = apply(model, config, crit)
        b, _ = apply(model, config, crit)
        assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
        results[crit.name] = a.state_dict()
    assert any(not torch.equal(results["l1"][k], results["random"][k]) for k in results["l1"])


def test_taylor_uses_real_gradients_and_leaves_parent_alone():
    from autoprune.data import builtin_root, open_split
    from autoprune.data.pairs import pair_loader

    family, model = _small("siamrpn")
    before = copy.deepcopy(model.state_dict())
    batches = pair_loader(open_split(builtin_root(), "train"), family.crop_spec(model.arch), batch_size=2, seed=0)
    config = PruneConfig(keep={g.name: max(1, g.size // 2) for g in family.unit_groups(model.arch)})
    child, _ = apply(model, config, Taylor(batches=1), batches=batches)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert sum(p.numel() for p in child.parameters()) < sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", FAMILIES)
def test_projection_fast_path_equals_full_plan(name):
    import numpy as np

    family, model = _small(name)
    pruner = Pruner(model, load_space(name))
    rng = np.random.default_rng(0)
    for _ in range(10):
        values = pruner.space.random(rng)
        assert pruner.child_arch(values) == pruner.plan(values).arch
