"""The local backend: ``--workers`` processes on this machine sharing the run's study."""
from __future__ import annotations

import multiprocessing as mp
import sys
from collections.abc import Callable

import optuna
import torch

from autoprune.run.context import RunContext
from autoprune.run.settings import SearchSettings
from autoprune.run.study import storage_lost
from autoprune.search.trials import open_study, optimize


def _worker(settings: SearchSettings, index: int, start: int, make_context: Callable[..., RunContext]) -> None:
    torch.set_num_threads(1)
    ctx = make_context(settings, worker=index)
    try:
        optimize(ctx, open_study(ctx.settings, worker=index, start=start), progress=False)
    except Exception as exc:
        if storage_lost(exc):  # the main process meets the same lost storage and says it in one line
            sys.exit(2)
        raise


def run_local(ctx: RunContext, study: optuna.Study, *, make_context: Callable[..., RunContext], progress: bool = True,
              objective=None) -> None:
    """Trials in this process (worker 0) and ``workers - 1`` helpers, each building its context with ``make_context``.

    With plain ``--device cuda``, worker i runs on cuda:(i mod GPUs).
    """
    workers = ctx.settings.parallel.workers
    if workers <= 1:
        optimize(ctx, study, progress=progress, objective=objective)
        return
    start = len(study.get_trials(deepcopy=False))  # every worker's seed counts from the same point
    spawn = mp.get_context("spawn")
    procs = [spawn.Process(target=_worker, args=(ctx.settings, i, start, make_context)) for i in range(1, workers)]
    for p in procs:
        p.start()
    try:
        optimize(ctx, study, progress=progress, objective=objective)
    finally:
        for p in procs:
            p.join()
