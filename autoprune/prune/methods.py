"""Whole pruning methods used as baselines: one uniform ratio, and the learned gates."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from autoprune.errors import BudgetError
from autoprune.prune.apply import apply, family_of
from autoprune.prune.gates import sparsity_train, threshold
from autoprune.prune.importance import get as get_importance
from autoprune.prune.pruner import FILL_BELOW, Pruner
from autoprune.prune.space import bind, load_space


@dataclass(frozen=True)
class UniformFit:
    """Where one keep ratio meets a budget: the ratio, the crop scale, and which ranges it needed."""

    values: dict
    cost: float
    ratio: float
    crop_scale: float
    extended: bool  # widths below the regular ranges (the space's extended ones)
    space: object  # the BoundSpace the values are for (the extended binding once crops or widths go beyond)

    @property
    def steps(self) -> str:
        """What the fit had to do beyond one ratio at full resolution, for notes and reports."""
        done = ([f"crops x{self.crop_scale:g}"] if self.crop_scale != 1.0 else []) + (["extended ranges"] if self.extended else [])
        return ", ".join(done) or "full resolution"


def fit_uniform(pruner: Pruner, budget: float, metric, *, window: float = FILL_BELOW, iterations: int = 30) -> UniformFit:
    """The largest single keep ratio for every width knob within ``budget`` (depth kept full).

    One ratio at full resolution comes first. Where it cannot reach the budget, or lands
    under ``window`` x the budget (rounding to channel multiples jumps past it), the crops
    shrink step by step on the space's resolution grid, and after the smallest crops the
    extended width ranges are used, again from full resolution down: the same order of
    resort as the search's projection, taken only as far as the budget needs. Raises
    :class:`BudgetError` when no step reaches the budget.
    """
    regular = pruner.space
    has_extended = any(k.extended is not None for k in pruner._space_file.knobs)
    wide = bind(pruner._space_file, pruner.groups, pruner.blocks, extended=True) if has_extended else regular
    crops = wide.crops
    scales = [1.0]
    if crops is not None:
        step = crops.step or (crops.high - crops.low) / 4
        n = int(round((crops.high - crops.low) / step))
        scales = [crops.high - i * step for i in range(n + 1)]
    floors = {k.name: k.low for k in regular.knobs if k.is_width}

    def space_for(scale: float, extended: bool):
        # full resolution and regular ranges: exactly the regular space (its channel multiples too)
        return regular if scale == 1.0 and not extended else wide

    def values(ratio: float, scale: float, extended: bool) -> dict:
        space = space_for(scale, extended)
        v = space.uniform(ratio)
        if space is wide and not extended:  # regular ranges: no width below the regular space's lows
            v = {n: max(x, floors[n]) if n in floors else x for n, x in v.items()}
        if space.crops is not None:
            v[space.crops.name] = scale
        return v

    def cost(v: dict, scale: float, extended: bool) -> float:
        pruner.space = space_for(scale, extended)  # child_arch reads crops and widths from the space bound here
        try:
            return float(metric(pruner.child_arch(v)))
        finally:
            pruner.space = regular

    best = None
    for extended in ([False, True] if has_extended else [False]):
        for scale in scales:
            at = lambda r: cost(values(r, scale, extended), scale, extended)  # noqa: E731
            if at(0.0) > budget:
                continue
            lo = 0.0
            if at(1.0) <= budget:
                lo = 1.0
            else:
                hi = 1.0
                for _ in range(iterations):  # the kept ratio maps monotonically to the cost
                    mid = (lo + hi) / 2
                    lo, hi = (mid, hi) if at(mid) <= budget else (lo, mid)
            fit = UniformFit(values=values(lo, scale, extended), cost=at(lo), ratio=lo, crop_scale=scale, extended=extended,
                             space=space_for(scale, extended))
            if best is None or fit.cost > best.cost:
                best = fit
            if fit.cost >= window * budget:
                return fit
    if best is None:
        smallest = smallest_uniform_cost(pruner, metric)
        raise BudgetError(f"budget {budget / 1e6:.2f} M FLOPs (MACs) is below the smallest uniform child "
                          f"({smallest / 1e6:.2f} M, smallest crops and widths)")
    return best


def smallest_uniform_cost(pruner: Pruner, metric) -> float:
    """The cost of the cheapest uniform child: every width at its (extended) low, the smallest crops."""
    space = bind(pruner._space_file, pruner.groups, pruner.blocks, extended=True)
    values = space.uniform(0.0)
    if space.crops is not None:
        values[space.crops.name] = space.crops.low
    regular, pruner.space = pruner.space, space
    try:
        return float(metric(pruner.child_arch(values)))
    finally:
        pruner.space = regular


def prune_uniform(parent, *, space: str, importance: str, keep: float | None, budget_macs: float | None,
                  batches: Iterator | None = None, seed: int = 0, smallest: bool = False):
    """One keep ratio for every width knob of ``space`` (depth kept), or the largest ratio within a budget
    (lowering the crops and then the width floors only where full resolution cannot fit; see
    :func:`fit_uniform`); ``smallest``: the cheapest uniform child."""
    criterion = get_importance(importance, seed=seed)
    pruner = Pruner(parent, load_space(space), criterion, batches=batches if criterion.needs_batches else None)
    if keep is not None:
        values = pruner.space.uniform(keep)
        note = f"uniform keep {keep:g}, {criterion.name} importance"
    else:
        macs = lambda arch: pruner.family.analytic_cost(arch)["frame_macs"]  # noqa: E731
        if smallest:  # the method's floor, for budgets below it
            budget_macs = smallest_uniform_cost(pruner, macs)
        fit = fit_uniform(pruner, budget_macs, macs)
        values = fit.values
        pruner.space = fit.space
        note = f"uniform keep {fit.ratio:.3f} to fit {budget_macs / 1e6:g} M FLOPs ({fit.steps}), {criterion.name} importance"
    child, arch = pruner.prune(values)
    return child, arch, note


# Crop scales a gate cut falls back to, largest first: down to the half side the default
# spaces' extended resolution knob reaches.
CROP_SCALES = (1.0, 0.875, 0.75, 0.625, 0.5)


class GateCutter:
    """Gates sparsity-trained once, cut at any number of budgets (as the paper does).

    A budget the paper's placement cannot reach at any keep fraction extends the method in
    its spirit, one step at a time and only as far as needed: first the dimensions the
    paper never gates (OSTrack's token width, STARK's transformer width and heads) are cut
    too, by weight magnitude, at the same keep fraction; then the template and search crops
    shrink (``CROP_SCALES``), since no width cut removes the cost of the tokens or of the
    stem on the full crop. The note of each cut says which steps it took.
    """

    def __init__(self, parent, batches: Iterator, *, steps: int, progress: bool = True, device: str | None = None,
                 amp: str | None = None) -> None:
        self.family = family_of(parent)
        self.parent_arch = parent.arch
        self.trained, result = sparsity_train(parent, batches, steps=steps, progress=progress, device=device, amp=amp)
        self.importance = result.importance
        self.kinds = result.kinds
        self.groups = {g.name: g for g in self.family.unit_groups(parent.arch)}
        self._paper = {n: v for n, v in self.importance.scores.items() if self.kinds.get(n) != "weights"}

    def _counts(self, keep: float, mode: str, extended: bool = False) -> dict[str, int]:
        scores = self.importance.scores if extended else self._paper
        return threshold(scores, self.groups, keep, mode, self.kinds)

    def _macs_of(self, counts: dict[str, int], scale: float) -> float:
        """Per-frame MACs of the child keeping ``counts`` units per group, at crop ``scale``."""
        arch = self.family.child_arch(self.parent_arch, counts, set())
        arch = arch if scale == 1.0 else self.family.resize_crops(arch, scale)
        return self.family.analytic_cost(arch)["frame_macs"]

    def frame_macs(self, keep: float, mode: str, *, extended: bool = False, scale: float = 1.0) -> float:
        return self._macs_of(self._counts(keep, mode, extended), scale)

    def smallest_macs(self, mode: str) -> float:
        """The cheapest child the (extended) method cuts."""
        return self.frame_macs(1e-3, mode, extended=True, scale=CROP_SCALES[-1])

    def _steps(self):
        """The method's steps, paper first: (extended, crop scale)."""
        yield False, 1.0
        for scale in CROP_SCALES:
            yield True, scale

    def cut(self, *, keep: float | None = None, budget_macs: float | None = None, mode: str = "naive",
            smallest: bool = False):
        """(child, arch, note) at a gate keep fraction, the largest one within ``budget_macs``, or
        (``smallest``) the cheapest child the extended method cuts."""
        from autoprune.prune.apply import PruneConfig

        extended, scale = False, 1.0
        if smallest:
            keep, extended, scale = 1e-3, True, CROP_SCALES[-1]
            note = f"gates ({mode}) at their floor"
        elif keep is None:
            keep, extended, scale = self._keep_for(budget_macs, mode)
            note = f"gates ({mode}) keep {keep:.3f} to fit {budget_macs / 1e6:g} M FLOPs"
        else:
            note = f"gates ({mode}) keep {keep:g}"
        if extended:
            note += ", ungated widths cut by weight magnitude"
        if scale != 1.0:
            note += f", crops x{scale:g}"
        counts = self._counts(keep, mode, extended)
        if budget_macs is not None and not smallest:
            counts, filled = self._fill(counts, budget_macs, scale)
            if filled:
                note += f", {filled} unit steps refilled to the budget"
        config = PruneConfig(keep=counts, crop_scale=scale)
        child, arch = apply(self.trained, config, self.importance)
        return child, arch, note

    def _fill(self, counts: dict[str, int], budget_macs: float, scale: float,
              max_steps: int = 2000) -> tuple[dict[str, int], int]:
        """Give the headroom a threshold's jump left under the budget back to the cut units.

        A threshold moves every group of one size at the same keep fraction, so near the
        widths' floors one step of it can jump from far under the budget to over it (STARK's
        layerwise cut at 1 % stopped at 84 % of its budget). Below ``FILL_BELOW`` x the budget,
        the group with the lowest kept fraction (ties: the best-scored next unit) grows by one
        step of its multiple while the child stays within the budget: the same threshold,
        with its ties broken unit step by unit step.
        """
        cost = self._macs_of(counts, scale)
        if cost >= FILL_BELOW * budget_macs:
            return counts, 0
        counts = dict(counts)
        ranked = {n: _best_first(self.importance.scores[n]) for n in counts}
        blocked: set[str] = set()
        filled = 0
        while filled < max_steps:
            open_ = [n for n in counts if n not in blocked and counts[n] < self.groups[n].size]
            if not open_:
                break
            name = min(open_, key=lambda n: (counts[n] / self.groups[n].size, -ranked[n][min(counts[n], len(ranked[n]) - 1)]))
            grown = dict(counts)
            grown[name] = min(self.groups[name].size, counts[name] + self.groups[name].multiple)
            grown_cost = self._macs_of(grown, scale)
            if grown_cost > budget_macs:
                blocked.add(name)  # this group's next step does not fit: the others may still
                continue
            counts, cost, filled = grown, grown_cost, filled + 1
        return counts, filled

    def _keep_for(self, budget_macs: float, mode: str) -> tuple[float, bool, float]:
        for extended, scale in self._steps():
            if self.frame_macs(1e-3, mode, extended=extended, scale=scale) <= budget_macs:
                break
        else:
            raise BudgetError(f"budget {budget_macs / 1e6:.1f} M FLOPs (MACs) is below what gate thresholding can reach "
                              f"({self.smallest_macs(mode) / 1e6:.2f} M)")
        lo, hi, best = 1e-3, 1.0, 1e-3
        for _ in range(20):  # the kept fraction maps monotonically to per-frame MACs
            mid = (lo + hi) / 2
            if self.frame_macs(mid, mode, extended=extended, scale=scale) <= budget_macs:
                lo, best = mid, mid
            else:
                hi = mid
        return best, extended, scale


def _best_first(scores) -> list[float]:
    """One group's unit scores, best first (the order a threshold keeps them in)."""
    return sorted((float(v) for v in scores.flatten()), reverse=True)


def prune_gates(parent, batches: Iterator, *, steps: int, keep: float | None, budget_macs: float | None, mode: str = "naive",
                device: str | None = None, amp: str | None = None):
    """Sparsity-train gates (on ``device``), threshold at ``keep`` (or the largest keep within the budget), remove."""
    return GateCutter(parent, batches, steps=steps, device=device, amp=amp).cut(keep=keep, budget_macs=budget_macs, mode=mode)
