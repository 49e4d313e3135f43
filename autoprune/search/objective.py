"""One search trial: sample knobs, project to the budget, prune for real, count, proxy-score."""
from __future__ import annotations

import contextlib
import json
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import optuna
import torch

from autoprune.cost.runtime import frame_latency, machine_name
from autoprune.errors import AutoPruneError
from autoprune.run.budget import Budget
from autoprune.run.study import claim, set_constraint


class TrialTimeout(AutoPruneError):
    """A trial ran past ``--trial-timeout``."""


def _out_of_memory(exc: BaseException) -> bool:
    # torch reports a failed CPU allocation as a plain RuntimeError
    return isinstance(exc, (MemoryError, torch.OutOfMemoryError)) or (
        isinstance(exc, RuntimeError) and ("can't allocate memory" in str(exc) or "out of memory" in str(exc)))


def fail_reason(exc: BaseException) -> str:
    """One line for a failed trial: the kind of failure first (summaries group by it), then the message."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    if _out_of_memory(exc):
        message = next((line for line in lines if "allocate" in line or "memory" in line), lines[0] if lines else "")
        message = message[message.find("DefaultCPUAllocator"):] if "DefaultCPUAllocator" in message else message
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # give the next trial the memory back
        return f"OutOfMemory: {type(exc).__name__}: {message.strip()} (run fewer --workers or free memory on this machine)"
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


DEDUPE_ATTEMPTS = 8
# Re-cuts of a latency-budget child whose measured latency missed its target window
# (Objective._correct: a ratio step, then secant steps on the latency model).
LATENCY_CORRECTIONS = 3
# A child is on target at 93-99 % of the latency it was aimed at: inside the export's 90-100 %
# with room for the few % a later re-measurement (autoprune profile) differs by.
LATENCY_WINDOW = (0.93, 0.99)
_TAKEN = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.PRUNED)


def _twin(trial: optuna.trial.Trial, arch: str) -> int | None:
    """The number of another finished or running trial of the study whose child is ``arch``."""
    for other in trial.study.get_trials(deepcopy=False, states=_TAKEN):
        if other.number != trial.number and other.user_attrs.get("arch") == arch:
            return other.number
    return None


@dataclass
class Objective:
    """Callable for ``study.optimize``; holds what every trial shares (parent, space, budget, proxy)."""

    family: object
    pruner: object
    space: object  # what the sampler draws knob values from: the pruner's space, or a transform of it (OneRatio)
    budget: Budget
    metric: Callable[[dict], float]  # child record -> budget units (MMACs or predicted ms)
    proxy: object  # scores a child: a FinetuneProxy or a OneShotProxy (search/proxies.py)
    seed: int = 0
    trial_timeout: float | None = None
    measure_latency: bool = True
    on_step: Callable[[optuna.trial.Trial, int, float], None] | None = None
    min_share: float = 1.0  # lowest sampled share of the budget a child is projected to (1.0: always the whole budget)
    runtime: str = "torch"  # where each child's latency is measured (--runtime)
    threads: int = 1
    projection_steps: int = 30  # bisection steps of the budget projection (a latency prediction costs ~0.1 s each)
    projection_margin: float = 0.0  # project this share under the target: room for the latency model's error
    quiet: object | None = None  # a QuietTiming: this machine's training pauses while a child is timed (cost/quiet.py)
    reference: object | None = None  # a SpeedReference: each child timed in turns with the parent (cost/reference.py)
    _waited: float = field(default=0.0, init=False, repr=False)  # this trial's timings' wait for quiet
    _contended: bool = field(default=False, init=False, repr=False)  # one of them gave up waiting
    _timings: dict = field(default_factory=dict, init=False, repr=False)  # this trial's paired timings, by their ms

    def sample(self, trial: optuna.trial.Trial) -> dict[str, float]:
        return self.space.sample(trial)

    def share(self, trial: optuna.trial.Trial) -> float:
        """The share of the budget this trial's child is projected to.

        Projection fills whatever target it is given, so with the whole budget every child
        lands at 96-100 % of it and the Pareto set is one point; a sampled target lets one
        search return the accuracy-vs-cost front below the budget.
        """
        if self.min_share >= 1.0:
            return 1.0
        # The range runs a third past 1 and is clipped there: about a quarter of the draws
        # fill the whole budget, where the exported child must lie (90-100 % of it), and the
        # rest spread the front below it.
        extra = (1.0 - self.min_share) / 3
        return min(1.0, trial.suggest_float("budget_share", self.min_share, 1.0 + extra))

    def _resample(self, trial: optuna.trial.Trial, attempt: int) -> dict[str, float]:
        rng = np.random.default_rng([self.seed, trial.number, attempt])
        return self.space.random(rng)

    def _cut(self, trial: optuna.trial.Trial, target: float):
        """Project, prune, and make sure no finished or running trial already holds this child.

        Returns the knob values it projected (sampled, or their random replacement), the
        projected values, their metric, the child and its record.

        A repeat would spend a trial on a known answer (samplers can propose a configuration
        that projects to a child already seen); it is replaced by random knobs, seeded by the
        trial, and the trial records which one it repeated.
        """
        values = self.sample(trial)
        for attempt in range(DEDUPE_ATTEMPTS + 1):
            projected, predicted = self.pruner.project(values, target, self.metric, iterations=self.projection_steps)
            child, arch = self.pruner.prune(projected)
            twin = _twin(trial, json.dumps(arch))
            if twin is None or attempt == DEDUPE_ATTEMPTS:
                return values, projected, predicted, child, arch
            trial.set_user_attr("resampled_from", twin)
            values = self._resample(trial, attempt)

    def __call__(self, trial: optuna.trial.Trial) -> tuple[float, float]:
        claim(trial)
        try:
            # A latency search's whole trial is work the other workers' timings wait for, its
            # projections and cuts too (they load the core as a fine-tune does); its own
            # timings let go of it (cost/quiet.py).
            with self.quiet.working() if self.quiet is not None else contextlib.nullcontext():
                return self._run(trial)
        except optuna.TrialPruned:
            raise
        except Exception as exc:  # recorded, then Optuna marks the trial failed and goes on
            trial.set_user_attr("fail_reason", fail_reason(exc)[:500])
            if not isinstance(exc, AutoPruneError):
                trial.set_user_attr("fail_traceback", traceback.format_exc()[-2000:])
            raise

    def _run(self, trial: optuna.trial.Trial) -> tuple[float, float]:
        start = time.perf_counter()
        self._waited, self._contended = 0.0, False
        self._timings = {}
        seed = self.seed + trial.number
        trial.set_user_attr("seed", seed)
        share = self.share(trial)
        target = share * self.budget.value * (1.0 - self.projection_margin)
        trial.set_user_attr("target", target)
        calibration = self._calibration(trial) if self.budget.kind == "ms" else 1.0
        values, projected, predicted, child, arch = self._cut(trial, target / calibration)
        latency = self._latency(child, trial) if self.measure_latency else float("nan")
        if self.budget.kind == "ms" and math.isfinite(latency):
            projected, predicted, child, arch, latency = self._correct(
                trial, values, share * self.budget.value, target, (projected, predicted, child, arch, latency))
        if self.budget.kind == "ms":
            trial.set_user_attr("predicted_ms", predicted)  # the model's own figure, before calibration
            predicted *= calibration
        trial.set_user_attr("knobs", {k: float(v) for k, v in projected.items()})  # exact: rebuilds must match
        set_constraint(trial, predicted / self.budget.value - 1.0)
        cost = self.family.analytic_cost(arch)
        trial.set_user_attr("arch", json.dumps(arch))
        trial.set_user_attr("frame_mflops", cost["frame_macs"] / 1e6)
        trial.set_user_attr("init_mflops", cost["init_macs"] / 1e6)
        trial.set_user_attr("params_m", cost["params"] / 1e6)
        if math.isfinite(latency):
            trial.set_user_attr("latency_ms", latency)
            trial.set_user_attr("latency_on", f"{self.runtime}, {self.threads} thread{'s' if self.threads > 1 else ''}")
            trial.set_user_attr("latency_machine", machine_name())
            if latency in self._timings:  # timed beside the parent: the raw figure and the speed factor too
                for key, value in self._timings[latency].attrs().items():
                    trial.set_user_attr(key, value)
        if self.budget.kind == "ms" and math.isfinite(latency):
            # the prediction steered the search; the measurement decides feasibility
            set_constraint(trial, latency / self.budget.value - 1.0)

        def step(n: int, loss: float) -> None:
            if self.trial_timeout and time.perf_counter() - start > self.trial_timeout:
                raise TrialTimeout(f"trial exceeded --trial-timeout {self.trial_timeout:g} s at fine-tune step {n}")
            if self.on_step is not None:
                self.on_step(trial, n, loss)

        score = self.proxy.score(trial, child=child, knobs=projected, seed=seed, on_step=step)
        if self.quiet is not None:
            trial.set_user_attr("timing_waited_s", self._waited)
            if self._contended:
                trial.set_user_attr("timing_contended", True)
        trial.set_user_attr("seconds", time.perf_counter() - start)
        if self.trial_timeout and time.perf_counter() - start > self.trial_timeout:
            raise TrialTimeout(f"trial exceeded --trial-timeout {self.trial_timeout:g} s")
        second = cost["frame_macs"] / 1e6 if self.budget.kind == "mflops" else latency
        return score, second

    def _correct(self, trial: optuna.trial.Trial, values: dict[str, float], aim: float, target: float, cut: tuple):
        """Re-cut a latency-budget child until its measured latency is 93-99 % of ``aim``.

        The latency model is right on average (a few % held-out error) but one child can be
        off by more than the 10 % window the export needs: the child at the whole budget
        would then either be infeasible or land under 90 % of it. The re-cuts project the
        same sampled knobs to a new model target: the first scales it by this child's
        measured / predicted ratio, later ones step along the secant through the last two
        (predicted, measured) points, which also follows a fixed per-frame overhead the
        ratio misses. The child that measured closest to the window is kept. A re-cut costs
        a prune and a timing, seconds beside the proxy's fine-tune.
        """
        low, high = LATENCY_WINDOW

        def miss(ms: float) -> float:  # 0 inside the window, else how far outside it (relative)
            return max(ms / aim - high, low - ms / aim, 0.0)

        def model_target(goal: float) -> float:  # the model's figure at which a child should measure ``goal``
            (p2, m2) = points[-1]
            if len(points) >= 2:
                (p1, m1) = points[-2]
                if (m2 - m1) * (p2 - p1) > 0:  # latency rises with the prediction between them: interpolate
                    return min(max(p2 + (goal - m2) * (p2 - p1) / (m2 - m1), 0.25 * p2), 4.0 * p2)
            return goal * p2 / m2

        best = cut
        projected, predicted, child, arch, latency = cut
        points = [(predicted, latency)]
        corrections = 0
        for _ in range(LATENCY_CORRECTIONS):
            if miss(latency) == 0.0 or predicted <= 0:
                break
            # Projection lands just under its target, by up to a step of the widths' grid; when
            # that gives the child back unchanged, aim at the window's far edge once more.
            for goal in (target, (high if latency < low * aim else low) * aim):
                new_projected, new_predicted = self.pruner.project(values, model_target(goal), self.metric,
                                                                   iterations=self.projection_steps)
                new_child, new_arch = self.pruner.prune(new_projected)
                if new_arch != arch:
                    break
            else:  # the projection cannot move (the smallest child, or a knob at its grid step)
                break
            projected, predicted, child, arch = new_projected, new_predicted, new_child, new_arch
            latency = self._latency(child, trial)
            points.append((predicted, latency))
            corrections += 1
            if miss(latency) < miss(best[4]) or (miss(latency) == miss(best[4]) and latency > best[4]):
                best = (projected, predicted, child, arch, latency)
        trial.set_user_attr("latency_corrections", corrections)
        return best

    def _calibration(self, trial: optuna.trial.Trial) -> float:
        """Measured / predicted latency, the median over the study's measured children (1 before any).

        The model is fitted to timings taken before the first trial; the machine's speed
        drifts (load, clocks, caches warm from a fine-tune), and every trial measures its
        child anyway, so the model is rescaled by what the children measured. Clipped to
        +-30 %: a few odd timings must not throw the projection off.
        """
        ratios = [t.user_attrs["latency_ms"] / t.user_attrs["predicted_ms"]
                  for t in trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
                  if t.user_attrs.get("predicted_ms") and t.user_attrs.get("latency_ms")]
        factor = float(np.median(ratios)) if ratios else 1.0
        factor = min(max(factor, 0.7), 1.3)
        trial.set_user_attr("latency_calibration", factor)
        return factor

    def _latency(self, child, trial: optuna.trial.Trial) -> float:
        with self.quiet.timing() if self.quiet is not None else contextlib.nullcontext():
            if self.reference is None:
                ms = float(frame_latency(self.family, child, runtime=self.runtime, threads=self.threads).median_ms)
            else:
                others = [t.user_attrs["reference_ms"] for t in trial.study.get_trials(deepcopy=False)
                          if t.user_attrs.get("reference_ms")]
                timing = self.reference.time_beside(child, others=others)
                ms = timing.ms
                self._timings[ms] = timing
        if self.quiet is not None:
            self._waited += self.quiet.waited_s
            self._contended = self._contended or self.quiet.contended
        return ms
