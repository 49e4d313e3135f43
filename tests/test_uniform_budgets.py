"""Uniform pruning at every budget of the paper: one keep ratio, within 10 % of the budget.

Full resolution and the regular ranges come first; the crops shrink and the extended ranges
open only where those cannot reach the budget, and the child's record says what it took.
"""
from __future__ import annotations

import pytest
import torch

import trackers
from autoprune.errors import BudgetError
from autoprune.prune.importance import Random
from autoprune.prune.methods import fit_uniform, prune_uniform
from autoprune.prune.pruner import Pruner
from autoprune.prune.space import load_space

PAPER_BUDGETS = (0.75, 0.5, 0.25, 0.1, 0.01)
PARENTS = [("siamrpn", "small"), ("siamrpn", "r50"), ("ostrack", "tiny"), ("ostrack", "vitb-256-ce"),
           ("stark", "small"), ("stark", "s50")]


def _setup(name, preset):
    family = trackers.get(name)
    # official parents on the meta device: the analytic cost needs only their records
    with torch.device("cpu" if preset in ("small", "tiny") else "meta"):
        parent = family.create(preset)
    metric = lambda arch: family.analytic_cost(arch)["frame_macs"]  # noqa: E731
    return family, Pruner(parent, load_space(name), Random(0)), metric


@pytest.mark.parametrize("name, preset", PARENTS)
def test_one_ratio_reaches_every_paper_budget(name, preset):
    family, pruner, metric = _setup(name, preset)
    full = metric(pruner.arch)
    for budget in PAPER_BUDGETS:
        fit = fit_uniform(pruner, budget * full, metric)
        assert 0.9 * budget <= fit.cost / full <= budget, (budget, fit.cost / full, fit.steps)
        # one ratio for every width knob, each clipped to its range (regular lows unless extended)
        regular_low = {k.name: k.low for k in pruner.space.knobs if k.is_width}
        for k in fit.space.knobs:
            if k.is_width:
                low = k.low if fit.extended else max(k.low, regular_low[k.name])
                assert fit.values[k.name] == pytest.approx(min(max(fit.ratio, low), k.high)), k.name
        # the search space object is left as it was (the fit binds the extended one aside)
        assert not pruner.space.extended
    # at 1 % a full-resolution, regular-range ratio cannot fit: the fit says what it took
    one = fit_uniform(pruner, 0.01 * full, metric)
    assert one.crop_scale < 1.0 or one.extended
    assert one.steps != "full resolution"


def test_mid_budgets_stay_at_full_resolution_where_they_can():
    _, pruner, metric = _setup("siamrpn", "small")
    full = metric(pruner.arch)
    for budget in (0.75, 0.5, 0.25, 0.1):
        fit = fit_uniform(pruner, budget * full, metric)
        assert fit.crop_scale == 1.0 and not fit.extended and fit.steps == "full resolution"


def test_uniform_child_at_one_percent_is_cut_for_real():
    family = trackers.get("stark")
    torch.manual_seed(0)
    parent = family.create("small").eval()
    full = family.analytic_cost(parent.arch)["frame_macs"]
    child, arch, note = prune_uniform(parent, space="stark", importance="l1", keep=None, budget_macs=0.01 * full)
    reached = family.analytic_cost(arch)["frame_macs"] / full
    assert 0.009 <= reached <= 0.01
    assert arch["search_size"] < parent.arch["search_size"] and "crops x" in note
    z, x = family.example_inputs(arch)
    with torch.no_grad():
        out = child.eval()(z, x)
    assert all(torch.isfinite(v).all() for v in out.values() if torch.is_tensor(v) and v.is_floating_point())


def test_below_the_smallest_uniform_child_is_one_clear_error():
    _, pruner, metric = _setup("siamrpn", "small")
    with pytest.raises(BudgetError, match="below the smallest uniform child"):
        fit_uniform(pruner, 1e-6 * metric(pruner.arch), metric)


def test_smallest_uniform_child_is_the_floor_the_error_names():
    from autoprune.prune.methods import smallest_uniform_cost

    family, pruner, metric = _setup("ostrack", "tiny")
    floor = smallest_uniform_cost(pruner, metric)
    assert floor < 0.01 * metric(pruner.arch)
    fit = fit_uniform(pruner, floor, metric)
    assert fit.cost == floor and fit.extended and fit.crop_scale < 1.0  # the largest crops with that cost
    _, arch, note = prune_uniform(pruner.parent, space="ostrack", importance="l1", keep=None, budget_macs=None, smallest=True)
    assert family.analytic_cost(arch)["frame_macs"] == floor and "extended ranges" in note
