"""`autoprune search`: the main job."""
from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
from pathlib import Path

from autoprune.commands._common import (DEFAULT_TRACKER, add_device_options, device_from_args, non_negative_int, positive_int,
                                       tracker_choices)
from autoprune.search.samplers import SAMPLERS


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _seconds(text: str) -> float:
    value = _number(text)
    if not math.isfinite(value) or value <= 0:  # nan would compare as never reached: no limit, silently
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


# The default trial count follows the proxy: a fine-tune trial costs 10-30 s on 2 CPU cores,
# a distill-loss trial the same fine-tune without the tracking, a one-shot trial (a slice of
# the supernet, BatchNorm re-estimated, loss on fixed pairs) 2-5 s.
DEFAULT_TRIALS = {"finetune": 12, "distill-loss": 16, "oneshot": 48}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Search per-layer pruning ratios of a tracker under a per-frame budget. FLOPs are counted as "
        "multiply-accumulates (MACs), the convention of tracking papers: --budget-mflops 50 means at most "
        "50 million MACs per tracked frame (template work done once at init is not included)."
    )
    p.add_argument("--tracker", help=f"tracker family: {tracker_choices()} (default: the one a --checkpoint of ours records, "
                                     f"else {DEFAULT_TRACKER})")
    p.add_argument("--budget-mflops", type=_number, help="per-frame budget in mega-FLOPs (MACs)")
    p.add_argument("--budget-ms", type=_number,
                   help="per-frame latency budget in ms, measured on this machine with --runtime and --threads")
    p.add_argument("--runtime", choices=("torch", "onnx"), default="torch",
                   help="where latency is measured and, with --budget-ms, budgeted: eager PyTorch or ONNX Runtime "
                        "(default torch; onnx needs autoprune[onnx])")
    p.add_argument("--preset", help="parent preset (default: the family's small preset, or its official one with --checkpoint)")
    p.add_argument("--checkpoint", help="trained parent weights (.pth state dict or .safetensors)")
    p.add_argument("--trust-pickle", action="store_true", help="allow pickled objects in --checkpoint (only for files you trust)")
    p.add_argument("--data", help="dataset root (GOT-10k / LaSOT / OTB / TrackingNet); default: the built-in dataset")
    p.add_argument("--space", help="search-space YAML (default: the family's built-in space)")
    p.add_argument("--trials", type=positive_int,
                   help=f"finished trials the study should hold (default: {DEFAULT_TRIALS['finetune']} with the fine-tune "
                        f"proxy, {DEFAULT_TRIALS['distill-loss']} with distill-loss, {DEFAULT_TRIALS['oneshot']} with "
                        "the one-shot one, whose trials cost seconds)")
    p.add_argument("--timeout", type=_seconds, help="stop starting trials after this many seconds")
    p.add_argument("--trial-timeout", type=_seconds, help="fail a trial that runs longer than this many seconds")
    p.add_argument("--proxy-steps", type=non_negative_int, default=30, help="fine-tune steps of the proxy score (default 30)")
    p.add_argument("--proxy-sequences", type=positive_int, default=4, help="validation sequences tracked for the proxy score")
    p.add_argument("--proxy", default="finetune", choices=("finetune", "distill-loss", "oneshot"),
                   help="how trials are scored: finetune (a short fine-tune each, then tracking; default), distill-loss "
                        "(the same fine-tune, then the loss on fixed val pairs, no tracking) or oneshot (children cut "
                        "from one supernet fine-tuned once per search, scored without training)")
    p.add_argument("--supernet-steps", type=positive_int, default=300, help="the one-shot proxy's supernet fine-tune steps (default 300)")
    p.add_argument("--oneshot-score", choices=("loss", "distill", "ao"),
                   help="one-shot score: held-out loss, distillation error against the parent, or AO (default: the one "
                        "that ranks the family's children best: loss, distill for ostrack)")
    p.add_argument("--min-budget-share", type=_number, default=0.3,
                   help="each trial targets a sampled share of the budget between this and 1, so the Pareto set spans "
                        "cost (default 0.3; 1: every child fills the budget)")
    p.add_argument("--distill", type=_number, default=0.0, help="weight of matching the parent's outputs in fine-tunes (0: off)")
    p.add_argument("--importance", default="l1", help="unit importance: l1, l2, bn, taylor, random (default l1)")
    p.add_argument("--sampler", default="tpe", choices=SAMPLERS, help="tpe (multivariate), nsga2, random, or uniform (one ratio for all)")
    p.add_argument("--no-uniform-start", dest="uniform_start", action="store_false",
                   help="let the sampler pick the first trial's knobs too (default: the first trial is the uniform shape at the whole budget)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--study-name", help=f"study name (default <tracker>-<budget>, e.g. {DEFAULT_TRACKER}-50m)")
    p.add_argument("--storage", help="where the study lives, shared by every worker: postgresql://USER:PASSWORD@HOST/DB "
                   "(pip install 'autoprune[postgres]'; the password is never written or printed), sqlite:///FILE or "
                   "journal:FILE (a shared file system); default runs/<study>/study.db")
    p.add_argument("--runs-dir", default="runs", help="where run directories go (default ./runs)")
    p.add_argument("--workers", type=positive_int, default=min(2, os.cpu_count() or 1),
                   help="trial processes on this machine, or Ray workers (default: 2 where there are 2 cores)")
    p.add_argument("--threads", type=positive_int, default=1, help="threads per worker, for fine-tunes and for latency (default 1)")
    p.add_argument("--backend", default="optuna", choices=("optuna", "ray"), help="run trials with Optuna (default) or Ray Tune")
    p.add_argument("--ray-address", help="address of a running Ray cluster (default: start one locally)")
    add_device_options(p, amp=True)
    p.add_argument("--parent-steps", type=positive_int, default=400, help="training steps of the default parent when no --checkpoint")
    p.add_argument("--validate-steps", type=non_negative_int, default=None,
                   help="fine-tune steps for each validated child (default: the family's own validate_steps)")
    p.add_argument("--validate-max", type=non_negative_int, default=3,
                   help="validate at most this many Pareto children (best proxy first); 0: search only, no validation or export")
    p.add_argument("--validate-sequences", type=positive_int, default=None,
                   help="full validation tracks the first N val sequences (default: all of them); on the built-in data, "
                        "N above 64 reads a larger built-in val split (made on first use; 1280: the yardstick's, "
                        "which resolves a 10 %% difference)")
    p.add_argument("--validate-runtime", choices=("torch", "onnx"), default="torch",
                   help="where full validation tracks: torch, or onnx (ONNX Runtime on the CPU: 1.8-2.5x faster per frame "
                        "for small children; scores differ only by float rounding)")
    p.add_argument("--no-export", action="store_true", help="do not export the best child")


def _family_and_preset(args: argparse.Namespace) -> tuple[str, str | None]:
    """--tracker / --preset, else what a --checkpoint file of ours records: a stark file is not read as siamrpn."""
    import trackers
    from autoprune.models import preset_of, saved_record

    record = saved_record(args.checkpoint) if args.checkpoint else None
    tracker = args.tracker or (record or {}).get("family") or DEFAULT_TRACKER
    preset = args.preset
    if preset is None and record and record.get("family") == tracker:
        preset = preset_of(trackers.get(tracker), record)
    return tracker, preset


def settings_from_args(args: argparse.Namespace):
    """The SearchSettings the parsed command line asks for (paths as given)."""
    from autoprune.run.budget import parse_budget
    from autoprune.run.settings import SearchSettings

    budget = parse_budget(args.budget_mflops, args.budget_ms)
    device, amp = device_from_args(args)
    tracker, preset = _family_and_preset(args)
    return SearchSettings.from_options(
        tracker=tracker, budget_kind=budget.kind, budget_value=budget.value, preset=preset,
        checkpoint=args.checkpoint, trust_pickle=args.trust_pickle, data=args.data, space=args.space,
        trials=args.trials if args.trials is not None else DEFAULT_TRIALS[args.proxy], timeout=args.timeout,
        proxy_steps=args.proxy_steps, proxy_sequences=args.proxy_sequences, proxy=args.proxy,
        supernet_steps=args.supernet_steps, oneshot_score=args.oneshot_score, min_share=args.min_budget_share, study_name=args.study_name,
        storage=args.storage, sampler=args.sampler, uniform_start=args.uniform_start, seed=args.seed, workers=args.workers, backend=args.backend,
        device=device, amp=amp, importance=args.importance, runs_dir=args.runs_dir, trial_timeout=args.trial_timeout,
        distill=args.distill, parent_steps=args.parent_steps, validate_steps=args.validate_steps,
        validate_max=args.validate_max, validate_sequences=args.validate_sequences, validate_runtime=args.validate_runtime, export=not args.no_export, ray_address=args.ray_address, threads=args.threads,
        runtime=args.runtime,
        command="autoprune " + " ".join(shlex.quote(a) for a in getattr(args, "argv", sys.argv[1:])),
    )


def run(args: argparse.Namespace) -> int:
    from autoprune.data import builtin_root
    from autoprune.data.verify import check_splits
    from autoprune.outputs import check_writable
    from autoprune.pipeline import search
    from autoprune.run.paths import with_absolute_paths

    settings = with_absolute_paths(settings_from_args(args))  # run.json records where things are, whatever the next command's directory
    # every image and box the trials will read, and every place it writes, before any trial or file
    check_writable(settings.runs_dir, "--runs-dir")
    if settings.storage and settings.storage.startswith("journal:"):
        check_writable(Path(settings.storage[len("journal:"):]).parent, "--storage")
    check_splits(settings.data or builtin_root(), ("train", "val"))
    search(settings)
    return 0
