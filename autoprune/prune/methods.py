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


class GateCutter:
    """Gates sparsity-trained once, cut at any number of budgets (as the paper does)."""

    def __init__(self, parent, batches: Iterator, *, steps: int, progress: bool = True, device: str | None = None,
                 amp: str | None = None) -> None:
        self.family = family_of(parent)
        self.parent_arch = parent.arch
        self.trained, result = sparsity_train(parent, batches, steps=steps, progress=progress, device=device, amp=amp)
        self.importance = result.importance
        self.kinds = result.kinds
        self.groups = {g.name: g for g in self.family.unit_groups(parent.arch)}

    def _counts(self, keep: float, mode: str) -> dict[str, int]:
        return threshold(self.importance.scores, self.groups, keep, mode, self.kinds)

    def frame_macs(self, keep: float, mode: str) -> float:
        arch = self.family.child_arch(self.parent_arch, self._counts(keep, mode), set())
        return self.family.analytic_cost(arch)["frame_macs"]

    def smallest_macs(self, mode: str) -> float:
        return self.frame_macs(1e-3, mode)

    def cut(self, *, keep: float | None = None, budget_macs: float | None = None, mode: str = "naive"):
        """(child, arch, note) at a gate keep fraction, or the largest one within ``budget_macs``."""
        from autoprune.prune.apply import PruneConfig

        if keep is None:
            keep = self._keep_for(budget_macs, mode)
            note = f"gates ({mode}) keep {keep:.3f} to fit {budget_macs / 1e6:g} M FLOPs"
        else:
            note = f"gates ({mode}) keep {keep:g}"
        child, arch = apply(self.trained, PruneConfig(keep=self._counts(keep, mode)), self.importance)
        return child, arch, note

    def _keep_for(self, budget_macs: float, mode: str) -> float:
        lo, hi, best = 1e-3, 1.0, None
        for _ in range(20):  # the kept fraction maps monotonically to per-frame MACs
            mid = (lo + hi) / 2
            if self.frame_macs(mid, mode) <= budget_macs:
                lo, best = mid, mid
            else:
                hi = mid
        if best is None:
            raise BudgetError(f"budget {budget_macs / 1e6:.1f} M FLOPs (MACs) is below what gate thresholding can reach "
                              f"({self.smallest_macs(mode) / 1e6:.2f} M)")
        return best


def prune_gates(parent, batches: Iterator, *, steps: int, keep: float | None, budget_macs: float | None, mode: str = "naive",
                device: str | None = None, amp: str | None = None):
    """Sparsity-train gates (on ``device``), threshold at ``keep`` (or the largest keep within the budget), remove."""
    return GateCutter(parent, batches, steps=steps, device=device, amp=amp).cut(keep=keep, budget_macs=budget_macs, mode=mode)
