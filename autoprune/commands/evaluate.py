"""`autoprune evaluate`: track a split and report GOT-10k / OTB-style metrics."""
from __future__ import annotations

import argparse
import json

import torch

from autoprune.commands._common import (add_data_options, add_device_options, add_model_options, data_root, device_from_args,
                                        model_from_args, positive_int)
from autoprune.errors import ConfigError
from autoprune.progress import console, results

BASELINES = ("static", "opencv")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", nargs="?", help="a model directory (training output or export); same as --weights")
    add_model_options(p)
    add_data_options(p, split="val")
    p.add_argument("--baseline", choices=BASELINES, help="evaluate a reference tracker instead of a model")
    p.add_argument("--hparams", help="named tracking hyperparameters of the family (e.g. vot, otb, lasot)")
    p.add_argument("--max-sequences", type=positive_int,
                   help="evaluate only the first N sequences; on the built-in data, N above the split's default size "
                        "tracks a larger built-in split (made on first use; 1280 val: the yardstick's)")
    p.add_argument("--out", help="write got10k-layout result files here")
    p.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--runtime", choices=("torch", "onnx"), default="torch",
                   help="onnx: run the per-frame network of an export made with --onnx in ONNX Runtime")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    add_device_options(p)  # --runtime onnx runs on the CPU whatever --device says


def make_tracker(args: argparse.Namespace):
    """The tracker to evaluate and its display name."""
    from autoprune.eval import baselines

    if args.baseline:
        if args.target or args.weights or args.tracker or args.random_init:
            raise ConfigError("--baseline evaluates a reference tracker; drop the model options or --baseline")
        if args.baseline == "static":
            return baselines.StaticBoxTracker(), "static-box"
        tracker = baselines.OpenCVTracker()
        return tracker, tracker.name
    weights = args.target or args.weights
    if args.runtime == "onnx":
        from pathlib import Path

        from autoprune.export.loader import load_model

        if not weights or not (Path(weights) / "arch.json").is_file():
            raise ConfigError("--runtime onnx runs an export: pass a directory written by `autoprune export ... --onnx`")
        family, model = load_model(weights, runtime="onnx")
        console.print(f"weights: export {weights} (per-frame network in ONNX Runtime)", markup=False, highlight=False)
        return family.make_tracker(model, args.hparams), f"{family.name}-export-onnx"
    args.weights = weights  # the positional target is --weights by another name
    family, model = model_from_args(args)
    model.to(device_from_args(args)[0])  # the tracker's crops and template cache follow the model
    name = f"{family.name}-{args.preset or 'model'}" if not weights else f"{family.name}-{model.arch.get('preset', 'model')}"
    return family.make_tracker(model, args.hparams), name


def run(args: argparse.Namespace) -> int:
    from autoprune.data.builtin import DEFAULT_SIZES, builtin_split_root
    from autoprune.data.verify import checked_split
    from autoprune.outputs import check_writable
    from autoprune.eval import evaluate

    torch.set_num_threads(args.threads)
    device_from_args(args)  # a bad --device is one line before any work, baselines included
    if args.out:
        check_writable(args.out, "--out")
    tracker, name = make_tracker(args)
    # on the built-in data, --max-sequences beyond a split's default size reads a larger built-in split
    if args.data or args.split not in DEFAULT_SIZES:
        root = data_root(args.data)
    else:
        root = builtin_split_root(args.split, args.max_sequences)
    sequences = checked_split(root, args.split, limit=args.max_sequences)  # before any frame is tracked
    result = evaluate(tracker, sequences, out_dir=args.out, tracker_name=name)
    if args.json:
        scores = {k: getattr(result, k) for k in ("ao", "sr50", "sr75", "auc", "precision", "norm_precision", "fps")}
        ci = result.ao_interval()
        print(json.dumps({**scores, "ao_ci": [ci.low, ci.high], "sequences": len(result.sequences)}))
    else:
        results.print(result.table())
    return 0
