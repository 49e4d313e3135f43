"""Validate Pareto-optimal children, record full AO / SR on the study, show and plot the front."""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import optuna
import torch
from rich.table import Table

from autoprune.checkpoint import read_metadata, save_safetensors
from autoprune.cost.latency import num_threads
from autoprune.device import describe
from autoprune.errors import ConfigError
from autoprune.eval.uncertainty import span_text
from autoprune.progress import console, results
from autoprune.proxy import VALIDATION_RECIPE, ProxySettings, proxy_score
from autoprune.run.context import build_context, worker_context
from autoprune.run.study import budget_use, feasible, open_run, pareto

VALIDATION_KEY = "validation"  # study user attr "validation:<trial>": {full_ao, full_sr50, full_sr75, ...}
TRIAL_KEY = "trial"  # weights metadata: which trial of which study the child is (see trial_identity)


def child_dir(run_dir: Path, number: int) -> Path:
    return Path(run_dir) / "children" / f"trial-{number}"


def trial_identity(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> str:
    """Names one trial of one study, also across a study deleted and made again under the same
    name (its ``_study_id`` can repeat; a trial's start time does not)."""
    started = trial.datetime_start.isoformat() if trial.datetime_start else "-"
    return f"{study.study_name}/{trial.number}/{started}"


def validated_weights(study: optuna.Study, run_dir, number: int) -> Path | None:
    """The child weights this study's validation of trial ``number`` wrote, or None: no
    validation recorded, no file, or a file another study (an earlier one in this run folder)
    or another trial left there."""
    weights = child_dir(run_dir, number) / "model.safetensors"
    recorded = validations(study).get(number)
    if recorded is None or not weights.is_file():
        return None
    found = read_metadata(weights).get(TRIAL_KEY)
    # Weights without an identity predate it: trusted as before when this study recorded a validation.
    if found is not None and found != trial_identity(study, study.trials[number]):
        return None
    return weights


def validations(study: optuna.Study) -> dict[int, dict]:
    """Full-validation results by trial number."""
    attrs = study.user_attrs
    found = {int(k): v for k, v in attrs.get(VALIDATION_KEY, {}).items()}  # one table, as older runs wrote it
    prefix = f"{VALIDATION_KEY}:"
    found.update({int(k[len(prefix):]): v for k, v in attrs.items() if k.startswith(prefix)})
    return {n: v for n, v in found.items() if v is not None}  # None: being validated again


def _record(study: optuna.Study, number: int, result: dict) -> None:
    # One attribute per trial: validation workers write side by side without overwriting each other.
    study.set_user_attr(f"{VALIDATION_KEY}:{number}", result)
    try:  # a note on the trial so optuna-dashboard shows the full figures beside it
        from optuna_dashboard import save_note

        trial_id = study.trials[number]._trial_id
        save_note(optuna.Trial(study, trial_id), "\n".join([
            f"## Full validation of trial {number}",
            f"- full AO: **{result['full_ao']:.4f}** (95 % CI {span_text(result.get('full_ao_ci'))}), SR0.50: {result['full_sr50']:.4f}, "
            f"SR0.75: {result['full_sr75']:.4f}",
            f"- fine-tune steps: {result['steps']}, validation sequences: {result['sequences']}",
        ]))
    except Exception:  # the note is a convenience; the record above is what counts
        pass


def validate_trial(ctx, study: optuna.Study, trial: optuna.trial.FrozenTrial, *, steps: int, progress: bool = True) -> dict:
    """Rebuild a trial's child, fine-tune it ``steps`` steps, score it on the whole val split."""
    knobs = trial.user_attrs.get("knobs")
    if knobs is None:
        raise ConfigError(f"trial {trial.number} has no recorded knobs; it cannot be rebuilt")
    child, arch = ctx.pruner.prune(knobs)
    if json.loads(trial.user_attrs["arch"]) != arch:
        raise ConfigError(f"trial {trial.number}: rebuilding gives another architecture; was the parent changed?")
    # The validation recipe (the measured most seed-stable fine-tune); a --distill of the search's own wins.
    distill = ctx.settings.proxy.distill
    recipe = {**VALIDATION_RECIPE, **({"distill": distill} if distill > 0 else {})}
    val = ctx.val_sequences[: ctx.settings.validation.sequences]
    settings = replace(ProxySettings(steps=steps, sequences=len(val), seed=int(trial.user_attrs.get("seed", 0)),
                                     device=ctx.device, amp=ctx.settings.parallel.amp,
                                     runtime=ctx.settings.validation.runtime), **recipe)
    scored = proxy_score(ctx.family, child, train_sequences=ctx.train_sequences, val_sequences=val,
                         settings=settings, parent=ctx.pruner.parent, progress=progress)
    out = child_dir(ctx.settings.run_dir, trial.number)
    metadata = {**ctx.family.weights_metadata(child), TRIAL_KEY: trial_identity(study, trial)}
    save_safetensors(child.state_dict(), out / "model.safetensors", metadata=metadata)
    result = {"full_ao": scored.ao, "full_ao_ci": scored.ao_ci, "full_sr50": scored.sr50, "full_sr75": scored.sr75, "steps": steps,
              "sequences": len(val), "weights": str(out / "model.safetensors"), "device": describe(ctx.device),
              "runtime": ctx.settings.validation.runtime}
    _record(study, trial.number, result)
    return result


# The share of the budget a child must use to count as "at the budget" when one is exported.
AT_BUDGET = 0.9


def _at_budget(trial: optuna.trial.FrozenTrial) -> bool:
    return (budget_use(trial) or 0.0) >= AT_BUDGET


def select_for_validation(study: optuna.Study, max_children: int | None) -> list[optuna.trial.FrozenTrial]:
    """The front's children by proxy score (on the front a higher score costs more), and one at the budget.

    When a smaller child out-scores every child at the budget, none of those is on the front,
    and the export would have to fall back to a child far under what the user asked for; so
    the best-scoring child at 90-100 % of the budget takes the last place. When no child
    reaches 90 % (a latency search whose children all measured a little fast), the place goes
    to the child nearest the budget: the export then weighs it against the front's smaller
    children by full validation instead of by their proxy score alone.
    """
    front = pareto(study)
    front.sort(key=lambda t: -t.values[0])
    chosen = front[:max_children] if max_children else front
    if chosen and not any(_at_budget(t) for t in chosen):
        scored = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
                  if feasible(t) and t.values and math.isfinite(t.values[0])]
        at_budget = [t for t in scored if _at_budget(t)]
        if at_budget:
            best = max(at_budget, key=lambda t: t.values[0])
        else:
            best = max(scored, key=lambda t: budget_use(t) or 0.0, default=None)
        if best is not None and all(t.number != best.number for t in chosen):
            chosen = (chosen[:-1] if max_children and len(chosen) >= max_children else chosen) + [best]
    return chosen


def best_trial(study: optuna.Study) -> int | None:
    """Highest full-validation AO among feasible trials at the budget (90-100 % of it), else among all feasible.

    A user who asks for a budget gets a child that uses it; a smaller child on the front is
    exported only when no validated child reaches 90 % of the budget.
    """
    valid = validations(study)
    candidates = [(v["full_ao"], n) for n, v in valid.items()
                  if n < len(study.trials) and feasible(study.trials[n]) and math.isfinite(v["full_ao"])]
    at_budget = [(ao, n) for ao, n in candidates if _at_budget(study.trials[n])]
    pool = at_budget or candidates
    return max(pool)[1] if pool else None


def _validate_worker(run_dir: str, numbers: list[int], steps: int, index: int = 1, device: str | None = None,
                     amp: str | None = None) -> None:
    """A helper process: its own context from the run's record, its share of the children.

    ``index`` picks its GPU as a search worker's does; ``device`` replaces the run's --device."""
    torch.set_num_threads(1)
    info = open_run(run_dir)
    ctx = worker_context(info.settings.on_device(device, amp), worker=index)
    for n in numbers:
        validate_trial(ctx, info.study, info.study.trials[n], steps=steps, progress=False)


def validate_run(run_dir, *, trials: list[int] | None = None, max_children: int | None = 3, steps: int = 150,
                 ctx=None, progress: bool = True, workers: int = 1, device: str | None = None,
                 amp: str | None = None, reuse: bool = False) -> int | None:
    """Validate the Pareto set (or the given trial numbers); print the table, write pareto.png.

    With ``workers`` > 1 the children are shared among that many processes (this one included).
    ``device``: where to fine-tune and track (default: the run's --device, or ``ctx``'s).
    ``reuse``: keep a chosen trial's recorded validation made with the same ``steps`` (another
    search on this study did it) instead of repeating it.
    """
    info = open_run(run_dir)
    study = info.study
    if ctx is None:
        ctx = build_context(info.settings.on_device(device, amp), progress=progress)
    device, amp = ctx.settings.parallel.device, ctx.settings.parallel.amp
    chosen = [study.trials[n] for n in trials] if trials else select_for_validation(study, max_children)
    for t in chosen:
        if t.state != optuna.trial.TrialState.COMPLETE:
            raise ConfigError(f"trial {t.number} is {t.state.name.lower()}, not complete; choose a completed trial")
    earlier = validations(study) if reuse else {}
    kept = [t for t in chosen if earlier.get(t.number, {}).get("steps") == steps]
    if kept:
        console.print(f"trials {', '.join(str(t.number) for t in kept)}: already validated ({steps} steps), kept",
                      highlight=False)
    chosen = [t for t in chosen if t.number not in {k.number for k in kept}]
    for t in chosen:  # earlier results of these trials make way, so "recorded" below means "done by this call"
        study.set_user_attr(f"{VALIDATION_KEY}:{t.number}", None)
    helpers = _start_helpers(info.run_dir, [t.number for t in chosen], steps, workers, device, amp)
    if helpers:
        console.print(f"validating trials {', '.join(str(t.number) for t in chosen)} in {len(helpers) + 1} processes "
                      f"({steps} fine-tune steps each); this one shows its share", highlight=False)
    # Sharing the cores with helpers, this process works on one thread as they do: a multi-
    # threaded process among them oversubscribes the cores and slows every process down.
    threads = 1 if helpers else torch.get_num_threads()
    try:
        with num_threads(threads):
            for t in chosen[::max(1, len(helpers) + 1)]:
                _announce(t, ctx)
                validate_trial(ctx, study, t, steps=steps, progress=progress)
    finally:
        for p in helpers:
            p.join()
    # A helper that died leaves its children unvalidated: this process does them now.
    done = validations(open_run(run_dir).study)
    for t in chosen:
        if t.number not in done:
            _announce(t, ctx)
            validate_trial(ctx, study, t, steps=steps, progress=progress)
    study = open_run(run_dir).study  # re-read the recorded results
    results.print(pareto_table(study, unit=ctx.settings.budget.unit))
    plot_pareto(study, Path(info.run_dir) / "pareto.png", unit=ctx.settings.budget.unit, budget=ctx.settings.budget.value)
    return best_trial(study)


def _start_helpers(run_dir, numbers: list[int], steps: int, workers: int, device: str, amp: str | None) -> list:
    """Processes validating ``numbers[k::n]`` for k = 1..n-1 (this process takes k = 0)."""
    import multiprocessing as mp

    n = max(1, min(workers, len(numbers)))
    helpers = [mp.get_context("spawn").Process(target=_validate_worker, args=(str(run_dir), numbers[k::n], steps, k, device, amp))
               for k in range(1, n)]
    for p in helpers:
        p.start()
    return helpers


def _announce(t: optuna.trial.FrozenTrial, ctx) -> None:
    console.print(f"validating trial {t.number} ({t.values[1]:.1f} {ctx.settings.budget.unit}, proxy score {t.values[0]:.3f})",
                  highlight=False)


def pareto_table(study: optuna.Study, *, unit: str) -> Table:
    valid = validations(study)
    best = best_trial(study)
    table = Table(title=f"Pareto set of {study.study_name} (within budget)")
    for col in ("trial", unit, "init MFLOPs", "params (M)", "latency (ms)", "proxy score", "full AO", "AO 95 % CI", "SR0.50", "SR0.75"):
        table.add_column(col, justify="right")
    front = pareto(study)
    on_front = {t.number for t in front}
    for t in _front_and_validated(study, valid, front):
        v = valid.get(t.number, {})
        ua = t.user_attrs
        mark = (" *" if t.number == best else "") + (" +" if t.number not in on_front else "")
        table.add_row(
            f"{t.number}{mark}", f"{t.values[1]:.2f}", f"{ua.get('init_mflops', float('nan')):.1f}",
            f"{ua.get('params_m', float('nan')):.3f}", f"{ua.get('latency_ms', float('nan')):.2f}", f"{t.values[0]:.3f}",
            f"{v['full_ao']:.3f}" if v else "-", span_text(v.get("full_ao_ci")), f"{v['full_sr50']:.3f}" if v else "-",
            f"{v['full_sr75']:.3f}" if v else "-",
        )
    table.caption = ("* the chosen child (highest full-validation AO among children at 90-100 % of the budget, else among all); "
                     "+ validated beside the front (the best-scored child at the budget when no front child is, or the one nearest it when none is); "
                     "FLOPs are multiply-accumulates (MACs)")
    return table


def _front_and_validated(study: optuna.Study, valid: dict, front: list) -> list:
    """The Pareto set and every validated child beside it, cheapest first: the table shows what was validated."""
    numbers = {t.number for t in front}
    extra = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
             if t.number in valid and t.number not in numbers and t.values]
    return sorted(front + extra, key=lambda t: t.values[1])


def plot_pareto(study: optuna.Study, path: Path, *, unit: str, budget: float) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)) if t.values]
    front = pareto(study)
    valid = validations(study)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    ax.scatter([t.values[1] for t in done], [t.values[0] for t in done], s=14, c="0.7", label="trials (proxy score)")
    ax.plot([t.values[1] for t in front], [t.values[0] for t in front], "o-", c="tab:blue", label="Pareto set (proxy score)")
    full = [(t.values[1], valid[t.number]["full_ao"]) for t in _front_and_validated(study, valid, front) if t.number in valid]
    if full:
        ax.scatter(*zip(*full), marker="*", s=120, c="tab:red", zorder=3, label="full-validation AO")
    ax.axvline(budget, ls="--", c="k", lw=1, label="budget")
    ax.set_xlabel(f"per-frame cost ({unit})")
    ax.set_ylabel("AO")
    ax.set_title(study.study_name)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
