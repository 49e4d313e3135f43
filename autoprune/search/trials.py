"""Running trials in one process: the study, the objective, and the loop to ``--trials``."""
from __future__ import annotations

import time
from collections import Counter

import optuna

from autoprune.errors import AutoPruneError
from autoprune.progress import progress_bar
from autoprune.proxy import ProxySettings
from autoprune.run.context import RunContext
from autoprune.run.settings import SearchSettings
from autoprune.run.study import DIRECTIONS, finished, recover_interrupted, storage_for
from autoprune.search.objective import Objective
from autoprune.search.proxies import DistillLossProxy, FinetuneProxy, OneShotProxy
from autoprune.search.samplers import UNIFORM, make_sampler, sampled_space, worker_seed
from autoprune.search.supernet import supernet_file

# ERROR: a failed trial's traceback is kept in its fail_traceback attribute, not printed by every worker
optuna.logging.set_verbosity(optuna.logging.ERROR)
WAIT_POLL_S = 1.0  # how often a search whose last trials run elsewhere looks at them


def open_study(s: SearchSettings, *, storage=None, heartbeat: bool = True, worker: int | None = None,
               start: int | None = None) -> optuna.Study:
    """The run's study in this process, its sampler seeded for this worker (``worker`` None: a process without an index).

    ``storage``: an Optuna storage the caller built (default: the one ``s.storage`` names).
    ``start``: the trials the study held when this run began (default: now), part of the seed.
    """
    storage = storage if storage is not None else storage_for(s.run_dir, s.storage, heartbeat=heartbeat)
    study = optuna.create_study(study_name=s.name, storage=storage, sampler=make_sampler(s.sampler, seed=s.seed),
                                directions=list(DIRECTIONS), load_if_exists=True)
    start = len(study.get_trials(deepcopy=False)) if start is None else start
    study.sampler = make_sampler(s.sampler, seed=worker_seed(s.seed, worker, start))
    return study


FILLS_BUDGET_KEY = "fills_budget"
UNIFORM_START_KEY = "uniform_start"  # the trial holds the uniform shape the search started from


def fill_budget_first(study: optuna.Study, s: SearchSettings, space=None) -> bool:
    """Queue a new study's first trial at the whole budget; returns whether it did.

    The export must lie at 90-100 % of the budget, and only about a quarter of the sampled
    shares fill it: a search of a few trials could end with no child there (a 2-trial search
    on ostrack/vitb-256-ce at 1 % exported 80 % of its budget). One trial at share 1 makes
    sure some child does.

    ``space`` (the pruner's bound space): that trial holds the uniform shape, the baseline
    every pruning method is measured against, so the search starts from it; its sampler and
    its validation see uniform beside what they find, and a search whose proxy ranks nothing
    above it exports it instead of a worse guess. Without ``space`` the sampler picks the knobs.
    """
    if s.sampler == UNIFORM or study.get_trials(deepcopy=False):
        return False
    params = {} if space is None else dict(space.uniform_start())
    attrs = {} if space is None else {UNIFORM_START_KEY: True}
    if s.budget.min_share < 1.0:
        params["budget_share"] = 1.0
        attrs[FILLS_BUDGET_KEY] = True
    if not params:
        return False
    study.enqueue_trial(params, user_attrs=attrs)
    return True


def make_proxy(ctx: RunContext) -> FinetuneProxy | DistillLossProxy | OneShotProxy:
    """The proxy that scores this process's trials, as ``--proxy`` chose it."""
    s = ctx.settings
    if s.proxy.kind == "oneshot":  # every worker (and Ray task) reads the supernet the search trained first
        from autoprune.proxy.oneshot import OneShotScorer, OneShotSettings, load_supernet

        supernet = load_supernet(ctx.parent.model, supernet_file(ctx.run_dir))
        return OneShotProxy(OneShotScorer(ctx.family, ctx.pruner, supernet, train_sequences=ctx.train_sequences,
                                          val_sequences=ctx.val_sequences, device=ctx.device,
                                          settings=OneShotSettings(score=s.proxy.oneshot_score, sequences=s.proxy.sequences)))
    settings = ProxySettings(steps=s.proxy.steps, sequences=s.proxy.sequences, distill=s.proxy.distill, seed=s.seed,
                             device=ctx.device, amp=s.parallel.amp)
    if s.proxy.kind == "distill-loss":
        from autoprune.proxy.oneshot import HeldOutPairs

        held_out = HeldOutPairs(ctx.family, ctx.pruner.parent, ctx.val_sequences, device=ctx.device)
        return DistillLossProxy(ctx.family, ctx.pruner.parent, ctx.train_sequences, held_out, settings)
    return FinetuneProxy(ctx.family, ctx.pruner.parent, ctx.train_sequences, ctx.val_sequences, settings)


def make_objective(ctx: RunContext, *, proxy=None, on_step=None) -> Objective:
    """The objective of this process's trials; ``proxy``: one built already (default: make_proxy)."""
    s = ctx.settings
    # The uniform baseline is the equal-cost reference: its children fill the whole budget.
    min_share = 1.0 if s.sampler == UNIFORM else s.budget.min_share
    quiet = _quiet_timing(ctx)
    return Objective(family=ctx.family, pruner=ctx.pruner, space=sampled_space(s.sampler, ctx.pruner.space),
                     budget=s.budget.limit, metric=ctx.metric, proxy=proxy if proxy is not None else make_proxy(ctx),
                     seed=s.seed, trial_timeout=s.trial_timeout, on_step=on_step, min_share=min_share,
                     runtime=s.budget.runtime, threads=s.parallel.threads, quiet=quiet, reference=_speed_reference(ctx),
                     **_projection(s))


def _quiet_timing(ctx: RunContext):
    """With a latency budget the timings decide feasibility: training anywhere on this machine pauses
    while a child is timed (cost/quiet.py). A MACs budget's timings are only reported; nobody waits for them."""
    if ctx.settings.budget.kind != "ms":
        return None
    from autoprune.cost.quiet import machine_quiet

    return machine_quiet()


def _speed_reference(ctx: RunContext):
    """With a latency budget each child is timed in turns with the parent, and its latency is stated
    at the machine's typical speed over the search (cost/reference.py)."""
    s = ctx.settings
    if s.budget.kind != "ms":
        return None
    from autoprune.cost.reference import SpeedReference

    return SpeedReference(ctx.family, ctx.pruner.parent, runtime=s.budget.runtime, threads=s.parallel.threads)


# A latency budget projects with a fitted model (held-out error 4-7 %, benchmarks/results/latency_model.md)
# whose every call builds a child on the meta device: fewer bisection steps (widths come in multiples
# of 8 anyway), and a target a little under the budget so the measured child lands inside it.
LATENCY_PROJECTION = {"projection_steps": 14, "projection_margin": 0.04}


def _projection(s) -> dict:
    return LATENCY_PROJECTION if s.budget.kind == "ms" else {}


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


def optimize(ctx: RunContext, study: optuna.Study, *, progress: bool = True, on_step=None,
             objective: Objective | None = None) -> None:
    """Run trials in this process until the study holds ``--trials`` finished ones.

    ``on_step(trial, step, loss)`` is called after every fine-tune step of every trial;
    ``objective``: one built already (default: make_objective with ``on_step``).
    """
    s = ctx.settings
    objective = objective if objective is not None else make_objective(ctx, on_step=on_step)
    target = s.trials
    with progress_bar(f"search {s.name}", total=target, enabled=progress) as bar:
        shown = min(finished(study), target)
        bar.advance(shown)
        while True:
            recover_interrupted(study)  # a dead run's RUNNING trial must not count as in progress
            running = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)))
            done = finished(study)
            if done >= target or (done + running >= target and not progress):
                break
            if done + running >= target:
                # other workers' last trials are still running: show them land, not a bar one short;
                # one whose worker dies meanwhile is recovered above and run again here
                time.sleep(WAIT_POLL_S)
                now = min(finished(study), target)
                bar.advance(now - shown)
                shown = now
                continue
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
