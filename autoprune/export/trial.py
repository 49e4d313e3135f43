"""Export a search trial: its validated child (validated first when it is not yet), written by export_model."""
from __future__ import annotations

from pathlib import Path

from autoprune.errors import ConfigError
from autoprune.export.writer import export_model
from autoprune.progress import console
from autoprune.run.context import RunContext, build_context
from autoprune.run.study import open_run
from autoprune.validate.choose import check_exportable
from autoprune.validate.pareto import best_trial, child_dir, validate_trial, validated_weights, validations


def export_trial(run_dir, *, trial: str | int = "best", out: str | Path | None = None, onnx: bool = False,
                 force: bool = False, ctx: RunContext | None = None, progress: bool = True) -> Path:
    """Export a search trial (``best`` = highest full-validation AO at 90-100 % of the budget, else within it).

    ``ctx``: the run's context when the caller has it (it saves rebuilding the parent to
    validate a trial that is not validated yet).
    """
    info = open_run(run_dir)
    study = info.study
    if trial == "best":
        number = best_trial(study)
        if number is None:
            raise ConfigError(f"{run_dir}: no validated trial within budget yet; run `autoprune validate {run_dir}` first")
    else:
        number = int(trial)
        if not 0 <= number < len(study.trials):
            raise ConfigError(f"--trial {number}: the study has trials 0..{len(study.trials) - 1}")
        warning = check_exportable(study, number, force=force)
        if warning:
            console.print(warning, style="yellow", highlight=False)
    weights = validated_weights(study, info.run_dir, number)
    if weights is None:  # not validated by this study (a file there may be an earlier study's): validate first
        if ctx is None:
            ctx = build_context(info.settings, progress=progress)
        validate_trial(ctx, study, study.trials[number], steps=info.record.validate_steps, progress=progress)
        weights = child_dir(info.run_dir, number) / "model.safetensors"
    from autoprune.models import load_saved

    family, model = load_saved(weights)  # record, weights and training flags as validation saved them
    t = study.trials[number]
    metrics = {"proxy_ao": t.user_attrs.get("proxy_ao"), **{k: v for k, v in validations(study).get(number, {}).items() if k.startswith("full_")}}
    record = info.record
    budget = f"{record.settings.budget.value:g} {record.budget_unit or ''}".strip()
    target = Path(out) if out else Path(info.run_dir) / "export" / ("best" if trial == "best" else f"trial-{number}")
    return export_model(family, model, target, onnx=onnx, force=force, info={
        "parent": record.parent_note, "budget": budget, "trial": number, "seed": t.user_attrs.get("seed"),
        "command": record.settings.command, "latency_ms": t.user_attrs.get("latency_ms"), "metrics": metrics,
        # an older run measured on one torch thread only
        "latency_on": t.user_attrs.get("latency_on") or ("torch, 1 thread" if t.user_attrs.get("latency_ms") else None),
        "latency_machine": t.user_attrs.get("latency_machine"),
        # a latency budget's child, timed in turns with the parent: as timed, and the speed factor applied
        **{k: t.user_attrs[k] for k in ("latency_raw_ms", "speed_factor") if k in t.user_attrs},
        "device": validations(study).get(number, {}).get("device") or t.user_attrs.get("device"),
        # how the full-validation figures were made (a validation before this field existed: runtime torch)
        "validation": {k: v for k, v in validations(study).get(number, {}).items() if k in ("steps", "sequences", "runtime")},
    })
