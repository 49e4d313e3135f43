"""`autoprune profile`: per-stage / per-block FLOPs (MACs), params and latency of a tracker."""
from __future__ import annotations

import argparse

from autoprune.commands._common import DEFAULT_TRACKER, add_model_options, model_from_args, positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Per-frame FLOPs (MACs; template work cached at init reported apart), params and measured "
                     "per-frame latency, per stage / block. FLOPs are multiply-accumulates, as in tracking papers.")
    add_model_options(p)
    p.add_argument("--export", help="an export directory written by `autoprune export` / `autoprune prune`")
    p.add_argument("--no-latency", action="store_true", help="count only; skip timing")
    p.add_argument("--threads", type=positive_int, default=1, help="CPU threads for latency (default 1)")
    p.add_argument("--runtime", choices=("torch", "onnx"), default="torch",
                   help="measure latency in eager PyTorch or ONNX Runtime (an export's model.onnx when it has one)")
    p.add_argument("--depth", type=positive_int, default=2, help="breakdown depth (1: stages, 2: blocks, ...)")
    p.add_argument("--json", action="store_true", help="print the profile as JSON")


def run(args: argparse.Namespace) -> int:
    from autoprune.cost import profile_table, tracker_cost
    from autoprune.models import preset_of
    from autoprune.progress import console, results

    if args.export:
        from autoprune.export import load_model

        family, model = load_model(args.export)
        console.print(f"weights: export {args.export}", markup=False, highlight=False)
    else:
        # Weights change no FLOPs, params or latency: a preset is profiled as built, without --random-init.
        family, model = model_from_args(args, random_reason="weights do not affect FLOPs, params or latency",
                                        default_tracker=DEFAULT_TRACKER)
    onnx_path = None
    if args.runtime == "onnx":
        from pathlib import Path

        from autoprune.cost.runtime import check_runtime

        check_runtime("onnx")
        if args.export and (Path(args.export) / "model.onnx").is_file():
            onnx_path = Path(args.export) / "model.onnx"  # the graph load_model checked against arch.json's hash
    cost = tracker_cost(family, model, latency=not args.no_latency, threads=args.threads, depth=args.depth,
                        runtime=args.runtime, onnx_path=onnx_path)
    if args.json:
        print(cost.to_json())
    else:
        results.print(profile_table(cost, title=f"{family.name} {preset_of(family, model.arch) or 'pruned'}"))
    return 0
