"""Whole pruning methods used as baselines: one uniform ratio, and the learned gates."""
from __future__ import annotations

from collections.abc import Iterator

from autoprune.errors import BudgetError
from autoprune.prune.apply import apply, family_of
from autoprune.prune.gates import sparsity_train, threshold
from autoprune.prune.importance import get as get_importance
from autoprune.prune.pruner import Pruner
from autoprune.prune.space import load_space


def prune_uniform(parent, *, space: str, importance: str, keep: float | None, budget_macs: float | None,
                  batches: Iterator | None = None, seed: int = 0):
    """One keep ratio for every width knob of ``space`` (depth kept), or the largest ratio within a budget."""
    criterion = get_importance(importance, seed=seed)
    pruner = Pruner(parent, load_space(space), criterion, batches=batches if criterion.needs_batches else None)
    if keep is not None:
        values = pruner.space.uniform(keep)
        note = f"uniform keep {keep:g}, {criterion.name} importance"
    else:
        macs = lambda arch: pruner.family.analytic_cost(arch)["frame_macs"]  # noqa: E731
        values, cost = pruner.project(pruner.space.uniform(1.0), budget_macs, macs)
        if cost > budget_macs:
            raise BudgetError(f"budget {budget_macs / 1e6:.1f} M FLOPs (MACs) is below the smallest uniform child ({cost / 1e6:.1f} M)")
        note = f"uniform to {budget_macs / 1e6:g} M FLOPs, {criterion.name} importance"
    child, arch = pruner.prune(values)
    return child, arch, note


def prune_gates(parent, batches: Iterator, *, steps: int, keep: float | None, budget_macs: float | None, mode: str = "naive"):
    """Sparsity-train gates, threshold at ``keep`` (or the largest keep within the budget), remove."""
    family = family_of(parent)
    trained, result = sparsity_train(parent, batches, steps=steps, budget=keep or 1.0, mode=mode)
    groups = {g.name: g for g in family.unit_groups(parent.arch)}
    scores = result.importance.scores

    def child_for(b: float):
        from autoprune.prune.apply import PruneConfig

        return apply(trained, PruneConfig(keep=threshold(scores, groups, b, mode)), result.importance)

    if keep is not None:
        child, arch = child_for(keep)
        return child, arch, f"gates ({mode}) keep {keep:g}"
    lo, hi = 1e-3, 1.0
    best = None
    for _ in range(20):  # the kept fraction maps monotonically to per-frame MACs
        mid = (lo + hi) / 2
        counts = threshold(scores, groups, mid, mode)
        arch = family.child_arch(parent.arch, counts, set())
        if family.analytic_cost(arch)["frame_macs"] <= budget_macs:
            lo, best = mid, mid
        else:
            hi = mid
    if best is None:
        raise BudgetError(f"budget {budget_macs / 1e6:.1f} M FLOPs (MACs) is below what gate thresholding can reach")
    child, arch = child_for(best)
    return child, arch, f"gates ({mode}) keep {best:.3f} to fit {budget_macs / 1e6:g} M FLOPs"
