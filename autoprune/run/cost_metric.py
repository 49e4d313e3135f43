"""What a child costs in budget units: per-frame mega-MACs, or milliseconds from a fitted model.

Latency as a budget is a per-parent model fitted to real measurements on the runtime the
user deploys on (``--runtime torch|onnx``, ``--threads N``). At the start of a
``--budget-ms`` search the parent and a spread of children (uniformly thinned ones, the
smallest, and random shapes at random sizes, so depth and uneven widths are seen) are timed;
:mod:`autoprune.cost.latency_model` predicts the rest from what each op of a child would
do. Each trial's child is then *measured* on the same runtime, and the measurement decides
feasibility.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from autoprune.checkpoint import atomic_write
from autoprune.cost.latency_model import LatencyModel, fit_latency_model
from autoprune.cost.quiet import machine_quiet
from autoprune.cost.runtime import frame_latency, machine_name
from autoprune.errors import ConfigError
from autoprune.progress import console, progress_bar

FIT_RATIOS = (1.0, 0.75, 0.5, 0.35, 0.25, 0.15)
FIT_RANDOM = 10  # random children besides the uniform ones


def frame_mflops(family) -> Callable[[dict], float]:
    """child record -> per-frame mega-MACs (the ``--budget-mflops`` unit)."""
    return lambda arch: family.analytic_cost(arch)["frame_macs"] / 1e6


def random_children(pruner, n: int, rng: np.random.Generator) -> list[dict]:
    """Knob values of ``n`` random shapes, each projected to a random MACs between the smallest child and the parent."""
    macs = frame_mflops(pruner.family)
    parent = macs(pruner.parent.arch)
    floor = pruner.project(pruner.space.smallest(), 0.0, macs)[1]
    return [pruner.project(pruner.space.random(rng), float(rng.uniform(floor, parent)), macs)[0] for _ in range(n)]


def fit_children(pruner, *, n_random: int = FIT_RANDOM, seed: int = 0) -> list[dict]:
    """Knob values of the children a latency model is fitted to (deterministic in ``seed``)."""
    space = pruner.space
    return [space.uniform(r) for r in FIT_RATIOS] + [space.smallest()] + random_children(pruner, n_random, np.random.default_rng([seed, 7]))


def measure_children(pruner, knob_values: list[dict], *, runtime: str, threads: int, repeats: int = 15,
                     progress: bool = False, label: str = "timing children") -> list[tuple[dict, float]]:
    """``(child arch, measured per-frame ms)`` for each knob setting, on ``runtime``."""
    family = pruner.family
    out = []
    # The first timing in a process pays one-off costs (allocator growth, kernel selection)
    # that made the parent look up to 50 % slower; a discarded run absorbs them.
    warm, _ = pruner.prune(knob_values[0])
    quiet = machine_quiet()  # the fit's timings, like the trials', wait for training elsewhere to pause
    with quiet.timing():
        frame_latency(family, warm, runtime=runtime, threads=threads, repeats=3, min_time=0.0)
    with progress_bar(label, total=len(knob_values), enabled=progress) as bar:
        for values in knob_values:
            child, arch = pruner.prune(values)
            with quiet.timing():
                ms = frame_latency(family, child, runtime=runtime, threads=threads, repeats=repeats).median_ms
            out.append((arch, ms))
            bar.advance()
    return out


def fit_for_pruner(pruner, *, runtime: str = "torch", threads: int = 1, repeats: int = 15, seed: int = 0,
                   n_random: int = FIT_RANDOM, progress: bool = False) -> LatencyModel:
    """Time the fit children on ``runtime`` and fit the latency model to them."""
    measured = measure_children(pruner, fit_children(pruner, n_random=n_random, seed=seed), runtime=runtime,
                                threads=threads, repeats=repeats, progress=progress,
                                label=f"timing children on {runtime} ({threads} thread{'s' if threads > 1 else ''})")
    return fit_latency_model(pruner.family, measured, runtime=runtime, threads=threads)


LATENCY_MODEL_FILE = "latency_model.json"


def _parent_key(pruner) -> str:
    # the model fits one parent's children: another parent is another model
    return hashlib.sha256(json.dumps(pruner.parent.arch, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_latency_model(settings, pruner, *, progress: bool = False) -> LatencyModel:
    """The latency model of a ``--budget-ms`` run: fitted once, kept in the run directory.

    Every process of the run (workers, Ray trials, a later ``validate`` or ``export``) reads
    the same file, so they all project children with the same model and none re-times the
    fit children; a file fitted for another runtime, thread count or parent is refitted.
    """
    runtime, threads = settings.budget.runtime, settings.parallel.threads
    path = Path(settings.run_dir) / LATENCY_MODEL_FILE
    key = _parent_key(pruner)
    if path.is_file():
        try:
            data = json.loads(path.read_text())
            if (data.get("parent_key"), data.get("runtime"), data.get("threads")) == (key, runtime, threads):
                return LatencyModel.from_dict(data)
        except (ValueError, KeyError, TypeError, ConfigError):
            pass  # unreadable or from an older version: fit afresh
    model = fit_for_pruner(pruner, runtime=runtime, threads=threads, seed=settings.seed, progress=progress)
    if progress:
        console.print(f"latency model on {runtime} ({threads} thread{'s' if threads > 1 else ''}): fitted to "
                      f"{len(model.points)} measured children, {model.fit_mape:.1%} mean error on them",
                      highlight=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({**model.to_dict(), "parent_key": key, "device": machine_name()}, indent=1)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return model
