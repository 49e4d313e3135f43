"""Budgets: per-frame mega-MACs (``--budget-mflops``) or per-frame milliseconds (``--budget-ms``)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from autoprune.errors import BudgetError, ConfigError


@dataclass(frozen=True)
class Budget:
    kind: str  # "mflops" (mega-MACs per tracked frame) or "ms" (per-frame latency)
    value: float

    @property
    def unit(self) -> str:
        return "M FLOPs (MACs)" if self.kind == "mflops" else "ms"

    @property
    def tag(self) -> str:
        return f"{self.value:g}m" if self.kind == "mflops" else f"{self.value:g}ms"

    def describe(self, amount: float) -> str:
        return f"{amount:.1f} {self.unit}"


def parse_budget(mflops: float | None, ms: float | None) -> Budget:
    """Exactly one budget, a positive finite number."""
    if mflops is not None and ms is not None:
        raise ConfigError("give one budget: --budget-mflops or --budget-ms, not both")
    if mflops is None and ms is None:
        raise ConfigError("give a budget: --budget-mflops M (mega-MACs per frame) or --budget-ms T (per-frame latency)")
    kind, value = ("mflops", mflops) if mflops is not None else ("ms", ms)
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        unit = "mega-MACs per frame" if kind == "mflops" else "milliseconds per frame"
        raise ConfigError(f"--budget-{kind} must be a positive number ({unit}), got {value:g}; e.g. --budget-{kind} 50")
    return Budget(kind=kind, value=float(value))


def check_feasible(budget: Budget, *, parent: float, smallest: float) -> None:
    """The budget must lie between the smallest child the space can make and the parent."""
    asked = f"{budget.value:g} {budget.unit}"  # as the user typed it: 0.01 must not read 0.0
    if budget.value >= parent:
        raise BudgetError(
            f"budget {asked} is not below the parent's {budget.describe(parent)}: "
            f"nothing to prune; choose a budget under {parent:.1f}"
        )
    if budget.value < smallest:
        raise BudgetError(
            f"budget {asked} is below the smallest child this search space can make "
            f"({budget.describe(smallest)}); raise the budget or lower the knobs' 'keep' bounds (--space)"
        )
