"""A run's working context: its parent, data, scored pruner and cost metric, built from its settings.

Every process that works on a run (the search, a local worker, a Ray trial, a validation
helper, an export of an unvalidated trial) builds the same context from the same settings;
the stages take it as given and build none of it themselves.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trackers
from autoprune.data import builtin_root, builtin_split_root, open_split
from autoprune.device import worker_device
from autoprune.errors import ConfigError
from autoprune.prune import importance as importance_lib
from autoprune.prune.pruner import Pruner
from autoprune.prune.space import load_space
from autoprune.run.cost_metric import frame_mflops
from autoprune.run.parent import Parent, prepare_parent
from autoprune.run.settings import SearchSettings


@dataclass(frozen=True)
class RunContext:
    """Everything a stage needs, rebuilt identically in every process."""

    settings: SearchSettings  # resolved (SearchSettings.resolve): validation steps and device filled in
    family: object
    parent: Parent
    pruner: Pruner
    train_sequences: list
    val_sequences: list
    metric: Callable[[dict], float]  # child record -> budget units (MMACs or predicted ms)
    parent_cost: float
    smallest_cost: float
    device: str = "cpu"  # this process's device: its fine-tunes and tracking run there (the parent stays on the CPU)

    @property
    def parent_note(self) -> str:
        return self.parent.description

    @property
    def run_dir(self) -> Path:
        return self.settings.run_dir


def build_context(settings: SearchSettings, *, importance=None, progress: bool = True, worker: int = 0,
                  device: str | None = None) -> RunContext:
    """The context of ``settings``' run in this process.

    ``importance``: the unit-importance criterion the pruner ranks units by (default: the one
    ``settings.importance`` names). ``worker``: this process's number among the local workers
    (it picks the GPU); ``device`` overrides it.
    """
    family = trackers.get(settings.tracker)
    s = settings.resolve(family)
    space = load_space(s.space or family.name)
    if space.family != family.name:
        raise ConfigError(f"search space {space.source} is for {space.family!r}, not {family.name!r}")
    root = Path(s.data) if s.data else builtin_root()
    train_sequences = open_split(root, "train")
    # Full validation on more built-in val sequences than the default split has (--validate-sequences
    # 1280: the yardstick's split) reads them from a val-only built-in dataset; its first ones are the same.
    val_sequences = open_split(root if s.data else builtin_split_root("val", s.validation.sequences), "val")
    parent = prepare_parent(family, preset=s.preset, checkpoint=s.checkpoint, data_root=root, builtin=not s.data,
                            steps=s.parent_steps, seed=s.seed, trust_pickle=s.trust_pickle, progress=progress)
    criterion = importance if importance is not None else importance_lib.get(s.importance, seed=s.seed)
    batches = None
    if criterion.needs_batches:
        from autoprune.data.pairs import pair_loader

        batches = pair_loader(train_sequences, family.crop_spec(parent.model.arch), batch_size=8, seed=s.seed)
    pruner = Pruner(parent.model, space, criterion, batches=batches)
    if s.budget.kind == "mflops":
        metric = frame_mflops(family)
    else:
        from autoprune.run.cost_metric import run_latency_model

        metric = run_latency_model(s, pruner, progress=progress).metric(family)
    parent_cost = metric(parent.model.arch)
    # a budget below the regular space's floor searches the knobs' extended ranges
    pruner.extend_for(s.budget.value, metric)
    smallest = pruner.project(pruner.space.smallest(), 0.0, metric)[1]
    return RunContext(s, family, parent, pruner, train_sequences, val_sequences, metric, parent_cost, smallest,
                      device=device or worker_device(s.parallel.device, worker))


def worker_context(settings: SearchSettings, *, worker: int | None = 0, device: str | None = None) -> RunContext:
    """The context of a process that works beside the main one (quiet: the main process shows progress).

    A context factory: the search backends and validation helpers take it to build their own.
    """
    return build_context(settings, progress=False, worker=worker or 0, device=device)
