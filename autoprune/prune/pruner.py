"""A parent prepared for many children: scores computed once, children planned in microseconds.

The search calls :meth:`Pruner.plan` / :meth:`Pruner.cost` thousands of times (budget
projection) and :meth:`Pruner.prune` once per trial.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from autoprune.prune.apply import PruneConfig, build_with_state, child_record, family_of, inherit_flags, select, slice_state
from autoprune.prune.importance import Importance, Magnitude
from autoprune.prune.space import BoundSpace, SearchSpace, bind


FILL_BELOW = 0.9  # a projection under this share of its target fills knob by knob


@dataclass(frozen=True)
class Plan:
    config: PruneConfig
    arch: dict
    selection: object


class Pruner:
    def __init__(self, parent, space: SearchSpace, importance: Importance | None = None, *, batches: Iterator | None = None) -> None:
        self.parent = parent
        self.family = family_of(parent)
        self.arch = parent.arch
        self.groups = self.family.unit_groups(self.arch)
        self.blocks = self.family.blocks(self.arch)
        self.importance = importance or Magnitude(1)
        source = self.importance.prepare(self.family, parent, batches)
        self.unit_scores = self.importance.unit_scores(source, self.groups)
        self.block_scores = self.importance.block_scores(source, self.blocks)
        self.space: BoundSpace = bind(space, self.groups, self.blocks)
        self._space_file = space
        # block ranking per container, fixed for the parent (projection needs only counts + drops)
        self._ranked_blocks: dict[str, list[str]] = {}
        for b in sorted((b for b in self.blocks if b.removable), key=lambda b: (-self.block_scores[b.name], b.index)):
            self._ranked_blocks.setdefault(b.container, []).append(b.name)
        self._sizes = {g.name: g.size for g in self.groups}

    def child_arch(self, values: Mapping[str, float]) -> dict:
        """The child's record alone (no unit selection): what budget projection evaluates."""
        config = self.space.config(dict(values))
        drop = {name for container, n in config.depth.items() for name in self._ranked_blocks.get(container, [])[n:]}
        counts = {**self._sizes, **config.keep}
        arch = self.family.child_arch(self.arch, counts, drop)
        return arch if config.crop_scale == 1.0 else self.family.resize_crops(arch, config.crop_scale)

    def plan(self, values: Mapping[str, float]) -> Plan:
        config = self.space.config(dict(values))
        selection = select(config, self.groups, self.blocks, self.unit_scores, self.block_scores)
        arch = child_record(self.family, self.arch, selection, config.crop_scale)
        return Plan(config=config, arch=arch, selection=selection)

    def extend_for(self, budget: float, metric: Callable[[dict], float]) -> bool:
        """Bind the space's extended ranges when ``budget`` is below what its regular ranges reach.

        Budgets the regular space reaches keep searching exactly it; returns whether the
        space was extended.
        """
        if self.space.extended or self.project(self.space.smallest(), budget, metric)[1] <= budget:
            return False
        if not any(k.extended is not None for k in self._space_file.knobs):
            return False
        self.space = bind(self._space_file, self.groups, self.blocks, extended=True)
        return True

    def cost(self, values: Mapping[str, float]) -> dict[str, int]:
        return self.family.analytic_cost(self.plan(values).arch)

    def prune(self, values: Mapping[str, float]):
        """The child (a plain family model) and its record."""
        plan = self.plan(values)
        arch = self.family.validate_arch(plan.arch)
        state = slice_state(self.parent.state_dict(), self.groups, self.blocks, plan.selection)
        if plan.config.crop_scale != 1.0:
            state = self.family.resize_state(state, self.arch, arch)
        child = build_with_state(self.family, arch, state, source=f"pruned {self.family.name} child")
        inherit_flags(self.family, self.parent, child)
        return child, arch

    def cutting_from(self, model) -> Pruner:
        """This pruner cutting children from ``model`` (the parent's architecture, other weights,
        e.g. a supernet), by this parent's importance order: a knob setting names the same units."""
        if model.arch != self.arch:
            raise ValueError("cutting_from needs a model of the parent's architecture")
        other = copy.copy(self)
        other.parent = model
        return other

    def project(self, values: Mapping[str, float], budget: float, metric: Callable[[dict], float], *, iterations: int = 30) -> tuple[dict[str, float], float]:
        """Scale every width ratio by one factor so ``metric(child arch)`` lands just under ``budget``.

        Depth and crop values stay as sampled, except where even the smallest widths exceed
        the budget: then the crop scale is lowered to the largest one at which they fit, and
        if the smallest crops do not fit either, the sampled depths are lowered together to
        the largest that fit. Resolution and depth give way only where the budget needs it.
        Returns the projected values and their metric; if even the smallest child exceeds the
        budget, returns it (the caller's constraint rejects it).
        """
        best, cost = self._project_widths(values, budget, metric, iterations)
        if cost <= budget:
            return best, cost
        floor = lambda v: self._project_widths(v, 0.0, metric, 0)[1]  # noqa: E731  (smallest widths)
        values = dict(values)
        crops = self.space.crops
        if crops is not None and values.get(crops.name, crops.high) > crops.low:
            if floor({**values, crops.name: crops.low}) <= budget:
                lo, hi = crops.low, float(values[crops.name])
                for _ in range(iterations):
                    mid = (lo + hi) / 2
                    lo, hi = (mid, hi) if floor({**values, crops.name: mid}) <= budget else (lo, mid)
                if crops.step:  # onto the knob's grid, downwards, to a point that still fits
                    n = math.floor((lo - crops.low) / crops.step + 1e-9)
                    while n > 0 and floor({**values, crops.name: crops.low + n * crops.step}) > budget:
                        n -= 1
                    lo = crops.low + n * crops.step
                return self._project_widths({**values, crops.name: lo}, budget, metric, iterations)
            values[crops.name] = crops.low
        depths = {k.name: min(int(k.low), self.containers_of(k)) for k in self.space.knobs if k.is_depth}
        depths = {name: low for name, low in depths.items() if values[name] > low}
        if depths:
            def at(share: float) -> dict[str, float]:
                return {**values, **{n: low + math.floor(share * (values[n] - low) + 1e-9) for n, low in depths.items()}}

            lo = 0.0
            if floor(at(0.0)) <= budget:
                hi = 1.0
                for _ in range(12):
                    mid = (lo + hi) / 2
                    lo, hi = (mid, hi) if floor(at(mid)) <= budget else (lo, mid)
            values = at(lo)
        return self._project_widths(values, budget, metric, iterations)

    def containers_of(self, knob) -> int:
        """Removable blocks of a depth knob's container."""
        return self.space.containers[knob.name]

    def _project_widths(self, values: Mapping[str, float], budget: float, metric: Callable[[dict], float],
                        iterations: int) -> tuple[dict[str, float], float]:
        widths = [k for k in self.space.knobs if k.is_width]

        def scaled(alpha: float) -> dict[str, float]:
            out = dict(values)
            for k in widths:
                out[k.name] = min(max(values[k.name] * alpha, k.low), k.high)
            return out

        def measure(v: dict[str, float]) -> float:
            return float(metric(self.child_arch(v)))

        hi_alpha = max(k.high / max(values[k.name], 1e-9) for k in widths) if widths else 1.0
        top = scaled(hi_alpha)
        top_cost = measure(top)
        if top_cost <= budget:
            return top, top_cost
        lo, hi = 0.0, hi_alpha
        best = scaled(0.0)
        best_cost = measure(best)
        if best_cost > budget:
            return best, best_cost
        for _ in range(iterations):
            mid = (lo + hi) / 2
            v = scaled(mid)
            c = measure(v)
            if c <= budget:
                lo, best, best_cost = mid, v, c
            else:
                hi = mid
        if best_cost < FILL_BELOW * budget:
            best, best_cost = self._fill(best, best_cost, budget, measure, widths)
        return best, best_cost

    @staticmethod
    def _fill(values: dict[str, float], cost: float, budget: float, measure, widths, *, iterations: int = 12):
        """Raise width knobs one at a time, each as far as the budget allows.

        One factor for every knob rounds all of them up at once near the smallest widths
        (every group a few channels wide), so the cost jumps past the budget and the child
        lands far below it; this recovers what one knob at a time still fits.
        """
        for k in widths:
            lo, hi = values[k.name], k.high
            for _ in range(iterations):
                mid = (lo + hi) / 2
                v = {**values, k.name: mid}
                c = measure(v)
                if c <= budget:
                    lo, values, cost = mid, v, c
                else:
                    hi = mid
            if cost >= FILL_BELOW * budget:
                break
        return values, cost
