"""`autoprune search` end to end, stage by stage.

    prepare  the parent, data, scored pruner and cost metric (the run context)
    supernet trained once, when trials are scored by the one-shot proxy
    search   trials until the study holds ``--trials`` finished ones (this process, local workers or Ray)
    validate the best Pareto children, fine-tuned longer and tracked on the whole val split
    export   the best validated child as a stand-alone tracker

Each stage gets what it needs from the one before; validate and export read the run's
record, so they also run alone (``autoprune validate`` / ``autoprune export``). The objects a
search is made of (importance criterion, storage, proxy) are built here, once, and given to
the stages.
"""
from __future__ import annotations

import dataclasses

import optuna
import torch

from autoprune.device import describe
from autoprune.export.trial import export_trial
from autoprune.progress import console, results
from autoprune.prune import importance as importance_lib
from autoprune.run.budget import check_feasible
from autoprune.run.context import RunContext, build_context, worker_context
from autoprune.run.record import RunRecord, write_record
from autoprune.run.settings import SearchSettings
from autoprune.run.study import finished, open_run, storage_for, storage_outage
from autoprune.search.finish import already_exported, finishing_alone
from autoprune.search.local import run_local
from autoprune.search.samplers import check_sampler
from autoprune.search.supernet import prepare_supernet
from autoprune.search.trials import fill_budget_first, make_objective, make_proxy, open_study
from autoprune.validate import validate_run
from autoprune.validate.pareto import validations


def prepare(settings: SearchSettings, *, progress: bool = True) -> RunContext:
    """Stage 1: the run context (the parent trained or loaded, its units scored by importance)."""
    check_sampler(settings.sampler)
    importance = importance_lib.get(settings.importance, seed=settings.seed)
    return build_context(settings, importance=importance, progress=progress)


def record_of(ctx: RunContext) -> RunRecord:
    s = ctx.settings
    return RunRecord(settings=s, parent=ctx.parent.source, parent_note=ctx.parent_note, parent_cost=ctx.parent_cost,
                     smallest_cost=ctx.smallest_cost, budget_unit=s.budget.unit, device_name=describe(ctx.device))


def run_trials(ctx: RunContext, study: optuna.Study, *, progress: bool = True) -> None:
    """Stage 3: the trials, on the backend the settings name."""
    s = ctx.settings
    if s.parallel.backend == "ray":
        from autoprune.search.ray_backend import run_ray

        run_ray(s, study, make_context=worker_context)
        return
    run_local(ctx, study, make_context=worker_context, progress=progress,
              objective=make_objective(ctx, proxy=make_proxy(ctx)))


def finish(ctx: RunContext, *, progress: bool = True) -> dict:
    """Stages 4 and 5: validate the Pareto children, export the best; what was done, by name."""
    s = ctx.settings
    done = {}
    with finishing_alone(s.run_dir):  # searches sharing this study validate and export once between them
        workers = s.parallel.workers if s.parallel.backend == "optuna" else 1
        best = validate_run(s.run_dir, max_children=s.validation.max_children, steps=s.validation.steps, ctx=ctx,
                            progress=progress, workers=workers, reuse=True)
        done["best_trial"] = best
        if s.export.enabled and best is not None:
            out = s.run_dir / "export" / "best"
            if already_exported(out, best, validations(open_run(s.run_dir).study).get(best, {})):
                results.print(f"the best child (trial {best}) is already exported to [bold]{out}[/]")
            else:
                out = export_trial(s.run_dir, trial="best", force=True, ctx=ctx)
                results.print(f"exported the best child (trial {best}) to [bold]{out}[/]")
            done["export"] = str(out)
    return done


def search(settings: SearchSettings, *, progress: bool = True, ctx: RunContext | None = None) -> dict:
    """Run (or resume) a search; returns a summary dict with the run directory and best trial.

    ``ctx``: a context already built for the same parent, data and space, to reuse;
    ``settings`` decide everything else (a study cell sets its budget after building one).
    """
    torch.set_num_threads(settings.parallel.threads)
    check_sampler(settings.sampler)
    if ctx is None:
        ctx = prepare(settings, progress=progress)
    else:
        ctx = dataclasses.replace(ctx, settings=settings.resolve(ctx.family))
    s = ctx.settings
    check_feasible(s.budget.limit, parent=ctx.parent_cost, smallest=ctx.smallest_cost)  # before any output or file
    console.print(ctx.parent_note, highlight=False)
    with storage_outage(s.run_dir, s.storage):  # a server that goes away mid-search: one line, re-run resumes
        study = open_study(s, storage=storage_for(s.run_dir, s.storage), worker=0)
        fill_budget_first(study, s, ctx.pruner.space if s.uniform_start else None)
        write_record(s.run_dir, record_of(ctx))
        if s.proxy.kind == "oneshot":
            prepare_supernet(ctx, progress=progress)
        console.print(f"study [bold]{s.name}[/] in {s.run_dir} — parent {ctx.parent_cost:.1f}, budget {s.budget.value:g} "
                      f"{s.budget.unit}, {finished(study)}/{s.trials} trials done", highlight=False)
        run_trials(ctx, study, progress=progress)
        summary = {"run_dir": str(s.run_dir), "best_trial": None}
        if s.validation.max_children <= 0:
            return summary
        summary.update(finish(ctx, progress=progress))
        return summary
