"""Ray Tune backend: trials as Ray tasks (one CPU each, a GPU where present), Optuna choosing
configurations in the shared study storage, ASHA stopping poor fine-tunes early.

Each Ray trial asks the Optuna study for a trial, runs the same :class:`Objective` as the
local backend (reporting the fine-tune loss every step for ASHA) and tells the result.
Trials ASHA stops are marked PRUNED, so they never enter the Pareto set.
"""
from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import optuna

from autoprune.errors import AutoPruneError, ConfigError
from autoprune.progress import console
from autoprune.run.context import RunContext
from autoprune.run.paths import with_absolute_paths
from autoprune.run.settings import SearchSettings
from autoprune.run.study import claim, finished

STOPPED_KEY = "stopped_by"


def _ray_trial(config: dict, settings: SearchSettings, make_context: Callable[..., RunContext]) -> None:
    import torch
    from ray import tune

    from autoprune.device import ray_trial_device
    from autoprune.search.trials import make_objective, open_study

    torch.set_num_threads(1)
    # Ray shows a trial only the GPU it reserved for it (as cuda:0), whatever --device named
    settings = settings.on_device(ray_trial_device(settings.parallel.device), settings.parallel.amp)
    ctx = make_context(settings, worker=None)
    study = open_study(ctx.settings, heartbeat=False)
    trial = study.ask()
    claim(trial)  # at once: a trial no worker recorded itself on is taken for an orphan (recover_interrupted)
    trial.set_user_attr("backend", "ray")

    def on_step(_trial, step: int, loss: float) -> None:
        tune.report({"loss": loss, "step": step, "optuna_trial": trial.number})

    objective = make_objective(ctx, on_step=on_step)
    try:
        values = objective(trial)
    except Exception:
        # the objective recorded the one-line fail_reason; raised on, Ray would print its traceback
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return
    study.tell(trial, list(values))
    tune.report({"loss": float(trial.user_attrs.get("loss", {}).get("loss_last", 0.0)), "step": settings.proxy.steps + 1,
                 "optuna_trial": trial.number, "proxy_ao": values[0], "cost": values[1]})


def run_ray(settings: SearchSettings, study: optuna.Study, *, make_context: Callable[..., RunContext]) -> None:
    """``--trials`` trials as Ray tasks; each builds its context with ``make_context(settings, worker=None)``."""
    try:
        import ray
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler
    except ImportError:
        raise ConfigError("--backend ray needs Ray Tune: pip install 'autoprune[ray]'") from None
    settings = with_absolute_paths(settings)  # each Ray trial runs in its own working directory
    par = settings.parallel
    # Ray Tune's newer console output prints its tables on stdout, which holds results alone
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    remaining = settings.trials - finished(study)
    if remaining <= 0:
        return
    import torch

    if par.ray_address:
        ray.init(address=par.ray_address, ignore_reinit_error=True, log_to_driver=False)
    else:
        ray.init(num_cpus=par.workers, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False,
                 runtime_env={"env_vars": {"AUTOPRUNE_CACHE": os.environ.get("AUTOPRUNE_CACHE", "")}} if os.environ.get("AUTOPRUNE_CACHE") else None)
    gpu = 1 if torch.cuda.is_available() and par.device != "cpu" else 0
    trainable = tune.with_resources(tune.with_parameters(_ray_trial, settings=settings, make_context=make_context),
                                    {"cpu": 1, "gpu": gpu})
    grace = max(1, settings.proxy.steps // 3)
    scheduler = ASHAScheduler(time_attr="step", metric="loss", mode="min", max_t=settings.proxy.steps + 1,
                              grace_period=grace, reduction_factor=2)
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(num_samples=remaining, max_concurrent_trials=par.workers, scheduler=scheduler),
        run_config=tune.RunConfig(storage_path=str(Path(settings.run_dir, "ray").resolve()), name="tune", verbose=0),
    )
    console.print(f"Ray Tune: {remaining} trials on {par.workers} workers, ASHA on the fine-tune loss")
    results = tuner.fit()
    _mark_stopped(study, results)
    if not par.ray_address:
        ray.shutdown()
    problem = no_completed_trial(study, [r.error for r in results if r.error is not None])
    if problem:
        raise AutoPruneError(problem)


def no_completed_trial(study: optuna.Study, ray_errors: list) -> str | None:
    """One line saying why the study holds no completed trial, or None when it holds one."""
    trials = study.get_trials(deepcopy=False)
    if any(t.state == optuna.trial.TrialState.COMPLETE for t in trials):
        return None
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    stopped = sum(1 for t in trials if t.user_attrs.get(STOPPED_KEY) == "asha")
    reasons = Counter(t.user_attrs.get("fail_reason", "unknown").split(":")[0] for t in failed)
    why = [f"{len(failed)} failed" + (f" ({', '.join(f'{n}x {r}' for r, n in reasons.most_common(3))})" if failed else "")]
    why.append(f"{stopped} stopped early by ASHA")
    last = failed[-1].user_attrs.get("fail_reason") if failed else None
    if last is None and ray_errors:
        last = f"{type(ray_errors[-1]).__name__}: {(str(ray_errors[-1]).strip().splitlines() or [''])[-1]}"
    return (f"Ray Tune finished with no completed trial ({len(trials)} trials: {', '.join(why)})"
            + (f"; last error: {last[:300]}" if last else "")
            + " — fix the cause (--debug shows tracebacks) and re-run the same command")


def _mark_stopped(study: optuna.Study, results) -> None:
    """Trials ASHA stopped are still RUNNING in the study: mark them PRUNED."""
    for result in results:
        metrics = result.metrics or {}
        number = metrics.get("optuna_trial")
        if number is None or "proxy_ao" in metrics:
            continue
        trial = study.trials[int(number)]
        if trial.state == optuna.trial.TrialState.RUNNING:
            study._storage.set_trial_user_attr(trial._trial_id, STOPPED_KEY, "asha")
            study.tell(int(number), state=optuna.trial.TrialState.PRUNED)
