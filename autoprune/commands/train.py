"""`autoprune train`: train a preset (or fine-tune a checkpoint) on a dataset."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from autoprune.commands._common import add_model_options, data_root, non_negative_int, positive_int
from autoprune.progress import console


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_options(p, required_tracker=False)
    p.add_argument("--data", help="dataset root; default: the built-in dataset")
    p.add_argument("--split", default="train")
    p.add_argument("--steps", type=positive_int, required=True, help="optimizer steps")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--lr", type=float, help="base learning rate (default: the family's)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--workers", type=non_negative_int, default=0, help="data-loading worker processes")
    p.add_argument("--out", help="output directory (default: runs/train/<tracker>-<preset>)")
    p.add_argument("--save-every", type=non_negative_int, default=100, help="checkpoint every N steps (0: only at the end)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads")


def run(args: argparse.Namespace) -> int:
    from autoprune import data
    from autoprune.data.pairs import pair_loader
    from autoprune.models import resolve
    from autoprune.train import train

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    # With --weights the saved model names its family; otherwise the headline family is the default.
    tracker = args.tracker or (None if args.weights else "siamrpn")
    family, model = resolve(tracker, args.preset, args.checkpoint, args.weights, trust_pickle=args.trust_pickle)
    preset = Path(args.weights).name if args.weights else (args.preset or family.default_preset)
    out = Path(args.out or f"runs/train/{family.name}-{preset}")
    sequences = data.open_split(data_root(args.data), args.split)
    batches = pair_loader(sequences, family.crop_spec(model.arch), batch_size=args.batch_size, seed=args.seed, workers=args.workers)
    result = train(
        family, model, batches, steps=args.steps, lr=args.lr, out_dir=out, save_every=args.save_every,
        resume=args.resume, description=f"train {family.name}/{preset}",
    )
    summary = result.summary()
    console.print(
        f"trained {family.name}/{preset} for {result.steps} steps: loss {summary.get('loss_first', float('nan')):.4f} -> "
        f"{summary.get('loss_last', float('nan')):.4f}; weights in [bold]{out / 'model.safetensors'}[/]"
    )
    return 0
