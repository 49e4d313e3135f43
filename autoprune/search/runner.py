"""`autoprune search` end to end: parent, space, study, trials, Pareto validation, export."""
from __future__ import annotations

import json
import multiprocessing as mp
import shlex
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import optuna
import torch

import trackers
from autoprune.data import builtin_root, open_split
from autoprune.device import check_amp, describe, resolve_device, worker_device
from autoprune.errors import AutoPruneError, ConfigError
from autoprune.progress import console, progress_bar, results
from autoprune.proxy import ProxySettings
from autoprune.proxy.oneshot import ONESHOT_SCORES
from autoprune.prune import importance as importance_lib
from autoprune.prune.pruner import Pruner
from autoprune.prune.space import load_space
from autoprune.redact import mask_secrets
from autoprune.run.budget import Budget, check_feasible
from autoprune.search.objective import Objective
from autoprune.run.cost_metric import frame_mflops
from autoprune.run.parent import DEFAULT_PARENT_STEPS, prepare_parent
from autoprune.search.samplers import SAMPLERS, make_sampler, worker_seed
from autoprune.run.study import DIRECTIONS, finished, recover_interrupted, storage_for

PROXIES = ("finetune", "oneshot")

# ERROR: a failed trial's traceback is kept in its fail_traceback attribute, not printed by every worker
optuna.logging.set_verbosity(optuna.logging.ERROR)


@dataclass
class SearchSettings:
    tracker: str
    budget_kind: str
    budget_value: float
    preset: str | None = None
    checkpoint: str | None = None
    trust_pickle: bool = False  # allow pickled objects in --checkpoint (runs code: only for trusted files)
    data: str | None = None
    space: str | None = None
    trials: int = 12
    timeout: float | None = None
    proxy_steps: int = 30
    proxy_sequences: int = 4
    proxy: str = "finetune"  # finetune: a short fine-tune per trial; oneshot: children cut from one trained supernet
    supernet_steps: int = 300  # the one-shot proxy's supernet fine-tune, once per search
    oneshot_score: str = "loss"  # loss / distill / ao on fixed held-out data (proxy/oneshot.py)
    min_share: float = 0.3  # each trial projects its child to a sampled share of the budget in [min_share, 1]
    study_name: str | None = None
    storage: str | None = None
    sampler: str = "tpe"
    seed: int = 0
    workers: int = 1
    threads: int = 1  # torch threads per worker: one thread per process scales best on small children
    backend: str = "optuna"
    device: str = "cpu"  # cpu, cuda (workers spread over every GPU), cuda:N or auto; run.json keeps it resolved
    amp: str | None = None  # bf16 / fp16 autocast in fine-tunes (CUDA only)
    importance: str = "l1"
    runs_dir: str = "runs"
    trial_timeout: float | None = None
    distill: float = 0.0
    parent_steps: int = DEFAULT_PARENT_STEPS
    validate_steps: int | None = None  # None: the family's default
    validate_max: int = 3  # 0: skip validation (and export)
    validate_sequences: int | None = None  # full validation tracks the first N val sequences (None: all)
    export: bool = True
    ray_address: str | None = None
    command: str = field(default_factory=lambda: "autoprune " + " ".join(shlex.quote(a) for a in sys.argv[1:]))

    @property
    def budget(self) -> Budget:
        return Budget(self.budget_kind, self.budget_value)

    @property
    def name(self) -> str:
        return self.study_name or f"{self.tracker}-{self.budget.tag}"

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir).resolve() / self.name


@dataclass
class Context:
    """Everything a worker needs, rebuilt identically in every process."""

    settings: SearchSettings
    family: object
    parent: object
    pruner: Pruner
    train_sequences: list
    val_sequences: list
    metric: object
    parent_cost: float
    smallest_cost: float
    parent_note: str = ""
    device: str = "cpu"  # this process's device: its fine-tunes and tracking run there (the parent stays on the CPU)


def _check_settings(s: SearchSettings) -> None:
    if s.sampler not in SAMPLERS:
        raise ConfigError(f"unknown sampler {s.sampler!r}; valid samplers: {', '.join(SAMPLERS)}")
    if s.backend not in ("optuna", "ray"):
        raise ConfigError(f"unknown backend {s.backend!r}; valid: optuna, ray")
    s.device = resolve_device(s.device)
    s.amp = check_amp(s.amp, s.device)
    if s.proxy not in PROXIES:
        raise ConfigError(f"unknown proxy {s.proxy!r}; valid: {', '.join(PROXIES)}")
    if s.oneshot_score not in ONESHOT_SCORES:
        raise ConfigError(f"unknown one-shot score {s.oneshot_score!r}; valid: {', '.join(ONESHOT_SCORES)}")
    if not 0.0 < s.min_share <= 1.0:
        raise ConfigError(f"--min-budget-share must be in (0, 1], got {s.min_share:g}; e.g. 0.3 (1: every child fills the budget)")
    if s.study_name is not None and (not s.study_name or "/" in s.study_name):
        raise ConfigError(f"--study-name {s.study_name!r}: use a plain name without '/'")


def build_context(s: SearchSettings, *, progress: bool = True, worker: int = 0, device: str | None = None) -> Context:
    """``worker``: this process's number among the local workers (it picks the GPU); ``device`` overrides it."""
    _check_settings(s)
    family = trackers.get(s.tracker)
    if s.validate_steps is None:
        s.validate_steps = family.validate_steps
    space = load_space(s.space or family.name)
    if space.family != family.name:
        raise ConfigError(f"search space {space.source} is for {space.family!r}, not {family.name!r}")
    root = Path(s.data) if s.data else builtin_root()
    train_sequences = open_split(root, "train")
    val_sequences = open_split(root, "val")
    parent = prepare_parent(family, preset=s.preset, checkpoint=s.checkpoint, data_root=root, builtin=not s.data,
                            steps=s.parent_steps, seed=s.seed, trust_pickle=s.trust_pickle, progress=progress)
    batches = None
    criterion = importance_lib.get(s.importance, seed=s.seed)
    if criterion.needs_batches:
        from autoprune.data.pairs import pair_loader

        batches = pair_loader(train_sequences, family.crop_spec(parent.model.arch), batch_size=8, seed=s.seed)
    pruner = Pruner(parent.model, space, criterion, batches=batches)
    if s.budget_kind == "mflops":
        metric = frame_mflops(family)
    else:
        from autoprune.run.cost_metric import fit_latency_model

        metric, _ = fit_latency_model(pruner)
    parent_cost = metric(parent.model.arch)
    smallest = pruner.project(pruner.space.smallest(), 0.0, metric)[1]
    return Context(s, family, parent, pruner, train_sequences, val_sequences, metric, parent_cost, smallest,
                   parent_note=parent.description, device=device or worker_device(s.device, worker))


def make_objective(ctx: Context, *, on_step=None) -> Objective:
    s = ctx.settings
    proxy = ProxySettings(steps=s.proxy_steps, sequences=s.proxy_sequences, distill=s.distill, seed=s.seed,
                          device=ctx.device, amp=s.amp)
    oneshot = None
    if s.proxy == "oneshot":  # every worker (and Ray task) reads the supernet the search trained first
        from autoprune.proxy.oneshot import OneShotScorer, OneShotSettings, load_supernet

        supernet = load_supernet(ctx.parent.model, supernet_file(s.run_dir))
        oneshot = OneShotScorer(ctx.family, ctx.pruner, supernet, train_sequences=ctx.train_sequences,
                                val_sequences=ctx.val_sequences, device=ctx.device,
                                settings=OneShotSettings(score=s.oneshot_score, sequences=s.proxy_sequences))
    return Objective(family=ctx.family, pruner=ctx.pruner, budget=s.budget, metric=ctx.metric,
                     train_sequences=ctx.train_sequences, val_sequences=ctx.val_sequences, proxy=proxy,
                     sampler_name=s.sampler, seed=s.seed, trial_timeout=s.trial_timeout, on_step=on_step,
                     min_share=s.min_share, oneshot=oneshot)


def supernet_file(run_dir: Path) -> Path:
    return Path(run_dir) / "supernet" / "model.safetensors"


def prepare_supernet(ctx: Context, *, progress: bool = True) -> Path:
    """Train the one-shot proxy's supernet once per run (a resumed run reuses the file)."""
    from autoprune.proxy.oneshot import SupernetSettings, save_supernet, train_supernet

    s = ctx.settings
    path = supernet_file(s.run_dir)
    if path.is_file():
        console.print(f"supernet: reusing {path}", highlight=False)
        return path
    import numpy as np

    def draw(rng: np.random.Generator) -> dict:  # a child the search may visit: random knobs at a share of the budget
        share = float(rng.uniform(s.min_share, 1.0))
        return ctx.pruner.project(ctx.pruner.space.random(rng), share * s.budget.value, ctx.metric)[0]

    console.print(f"supernet: fine-tuning the parent {s.supernet_steps} steps as a supernet over the search space", highlight=False)
    supernet, summary = train_supernet(ctx.family, ctx.pruner, ctx.train_sequences, draw_child=draw, device=ctx.device,
                                       settings=SupernetSettings(steps=s.supernet_steps, seed=s.seed), progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_supernet(ctx.family, supernet.cpu(), path)  # written atomically: a worker never reads half a file
    from autoprune.checkpoint import atomic_write

    atomic_write(path.parent / "summary.json", lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=2)))
    return path


def open_study(s: SearchSettings, *, heartbeat: bool = True, worker: int | None = None,
               start: int | None = None) -> optuna.Study:
    """The run's study, its sampler seeded for this worker (``worker`` None: a process without an index).

    ``start``: the trials the study held when this run began (default: now), part of the seed.
    """
    storage = storage_for(s.run_dir, s.storage, heartbeat=heartbeat)
    study = optuna.create_study(study_name=s.name, storage=storage, sampler=make_sampler(s.sampler, seed=s.seed),
                                directions=list(DIRECTIONS), load_if_exists=True)
    start = len(study.get_trials(deepcopy=False)) if start is None else start
    study.sampler = make_sampler(s.sampler, seed=worker_seed(s.seed, worker, start))
    return study


def settings_from_meta(meta: dict) -> SearchSettings:
    """The settings a run was made with, read back from its run.json."""
    names = SearchSettings.__dataclass_fields__
    return SearchSettings(**{k: v for k, v in meta.items() if k in names})


def _write_run_meta(s: SearchSettings, ctx: Context) -> None:
    meta = asdict(s)
    meta.update(storage=mask_secrets(s.storage), command=mask_secrets(s.command))  # no password on disk
    meta.update(study_name=s.name, parent=ctx.parent.source, parent_note=ctx.parent_note, parent_cost=ctx.parent_cost,
                smallest_cost=ctx.smallest_cost, budget_unit=s.budget.unit, device_name=describe(ctx.device))
    s.run_dir.mkdir(parents=True, exist_ok=True)
    from autoprune.checkpoint import atomic_write

    atomic_write(s.run_dir / "run.json", lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2)))


def _too_many_failures(study: optuna.Study) -> str | None:
    trials = study.get_trials(deepcopy=False)
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    done = [t for t in trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
    if len(failed) >= 3 and len(failed) > len(done):
        reasons = Counter(t.user_attrs.get("fail_reason", "unknown").split(":")[0] for t in failed)
        summary = ", ".join(f"{n}x {r}" for r, n in reasons.most_common(4))
        last = failed[-1].user_attrs.get("fail_reason", "unknown")
        return (f"search stopped: most trials failed ({len(failed)} failed, {len(done)} finished; reasons: {summary}); "
                f"last: {last} — fix the cause and re-run the same command (finished trials are kept)")
    return None


def optimize(ctx: Context, study: optuna.Study, *, progress: bool = True, on_step=None) -> None:
    """Run trials in this process until the study holds ``--trials`` finished ones.

    ``on_step(trial, step, loss)`` is called after every fine-tune step of every trial.
    """
    s = ctx.settings
    objective = make_objective(ctx, on_step=on_step)
    target = s.trials
    with progress_bar(f"search {s.name}", total=target, enabled=progress) as bar:
        shown = min(finished(study), target)
        bar.advance(shown)
        while True:
            recover_interrupted(study)  # a dead run's RUNNING trial must not count as in progress
            running = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)))
            if finished(study) + running >= target:
                break
            study.optimize(objective, n_trials=1, timeout=s.timeout, catch=(Exception,), gc_after_trial=True)
            now = min(finished(study), target)  # other workers' trials count too
            bar.advance(now - shown)
            shown = now
            last = study.trials[-1]
            if last.values:
                bar.update(info=f"trial {last.number}: proxy {last.values[0]:.3f} at {last.values[1]:.1f} {s.budget.unit}")
            problem = _too_many_failures(study)
            if problem:
                raise AutoPruneError(problem)
        if progress:  # other workers' last trials are still running: show them land, not a bar one short
            _wait_for_running(study, bar, shown, target)


def _wait_for_running(study: optuna.Study, bar, shown: int, target: int, poll_s: float = 1.0) -> None:
    running = (optuna.trial.TrialState.RUNNING,)
    while finished(study) < target and study.get_trials(deepcopy=False, states=running):
        time.sleep(poll_s)
        recover_interrupted(study)  # a worker that died meanwhile must not keep this one waiting
        now = min(finished(study), target)
        bar.advance(now - shown)
        shown = now


def _worker(settings: SearchSettings, index: int = 0, start: int | None = None) -> None:
    torch.set_num_threads(1)
    ctx = build_context(settings, progress=False, worker=index)
    optimize(ctx, open_study(settings, worker=index, start=start), progress=False)


def search(s: SearchSettings, *, progress: bool = True, ctx: Context | None = None) -> dict:
    """Run (or resume) a search; returns a summary dict with the run directory and best trial.

    ``ctx``: a context already built from ``s`` (parent, scored pruner, cost model), to reuse.
    """
    torch.set_num_threads(s.threads)
    ctx = ctx if ctx is not None else build_context(s, progress=progress)
    check_feasible(s.budget, parent=ctx.parent_cost, smallest=ctx.smallest_cost)  # before any output or file
    console.print(ctx.parent_note, highlight=False)
    study = open_study(s, worker=0)
    _write_run_meta(s, ctx)
    if s.proxy == "oneshot":
        prepare_supernet(ctx, progress=progress)
    console.print(f"study [bold]{s.name}[/] in {s.run_dir} — parent {ctx.parent_cost:.1f}, budget {s.budget.value:g} "
                  f"{s.budget.unit}, {finished(study)}/{s.trials} trials done", highlight=False)
    if s.backend == "ray":
        from autoprune.search.ray_backend import run_ray

        run_ray(s, study)
    elif s.workers > 1:
        # this process is worker 0; with plain --device cuda, worker i runs on cuda:(i mod GPUs)
        start = len(study.get_trials(deepcopy=False))  # every worker's seed counts from the same point
        procs = [mp.get_context("spawn").Process(target=_worker, args=(s, i, start)) for i in range(1, s.workers)]
        for p in procs:
            p.start()
        try:
            optimize(ctx, study, progress=progress)
        finally:
            for p in procs:
                p.join()
    else:
        optimize(ctx, study, progress=progress)
    summary = {"run_dir": str(s.run_dir), "best_trial": None}
    if s.validate_max <= 0:
        return summary
    from autoprune.search.finish import already_exported, finishing_alone
    from autoprune.run.study import open_run
    from autoprune.validate import validate_run
    from autoprune.validate.pareto import validations

    with finishing_alone(s.run_dir):  # searches sharing this study validate and export once between them
        best = validate_run(s.run_dir, max_children=s.validate_max, steps=s.validate_steps, ctx=ctx, progress=progress,
                            workers=s.workers if s.backend == "optuna" else 1, reuse=True)
        summary["best_trial"] = best
        if s.export and best is not None:
            from autoprune.export import export_trial

            out = s.run_dir / "export" / "best"
            if already_exported(out, best, validations(open_run(s.run_dir).study).get(best, {})):
                results.print(f"the best child (trial {best}) is already exported to [bold]{out}[/]")
            else:
                out = export_trial(s.run_dir, trial="best", force=True, ctx=ctx)
                results.print(f"exported the best child (trial {best}) to [bold]{out}[/]")
            summary["export"] = str(out)
    return summary
