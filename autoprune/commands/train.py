"""`autoprune train`: train a preset (or fine-tune a checkpoint) on a dataset."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from autoprune.commands._common import (DEFAULT_TRACKER, add_device_options, add_model_options, data_root, device_from_args,
                                       model_from_args, non_negative_int, positive_int)
from autoprune.data.augment import PROFILES
from autoprune.progress import results


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_options(p, required_tracker=False)
    p.add_argument("--data", help="dataset root; default: the built-in dataset")
    p.add_argument("--split", default="train")
    p.add_argument("--steps", type=positive_int, required=True, help="optimizer steps")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--lr", type=float, help="base learning rate (default: the family's)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--workers", type=non_negative_int, help="data-loading worker processes (default: 0 on the CPU, 2 on CUDA)")
    p.add_argument("--out", help="output directory (default: runs/train/<tracker>-<preset>)")
    p.add_argument("--save-every", type=non_negative_int, default=100, help="checkpoint every N steps (0: only at the end)")
    p.add_argument("--snapshot-every", type=non_negative_int, default=0,
                   help="also keep the weights of every N-th step in <out>/snapshots/ (for learning curves; 0: none)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads")
    p.add_argument("--augment", default="none", choices=sorted(PROFILES),
                   help="photometric augmentation of the crops (none; photometric: colour, greyscale, blur; "
                        "camera: photometric + sensor noise, JPEG, low resolution)")
    add_device_options(p, amp=True)


def run(args: argparse.Namespace) -> int:
    from autoprune.data.pairs import pair_loader
    from autoprune.data.verify import checked_split
    from autoprune.outputs import check_writable
    from autoprune.device import loader_workers
    from autoprune.models import preset_of
    from autoprune.train import train

    device, amp = device_from_args(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    # Training from random weights is this command's job; a weights file names its own family.
    scratch = ("training from scratch unless --out holds a checkpoint to resume" if args.resume
               else "training from scratch; --checkpoint or --weights starts from trained ones")
    family, model = model_from_args(args, random_reason=scratch, default_tracker=DEFAULT_TRACKER)
    preset = Path(args.weights).name if args.weights else (args.preset or preset_of(family, model.arch) or "model")
    out = Path(args.out or f"runs/train/{family.name}-{preset}")
    check_writable(out, "--out")
    sequences = checked_split(data_root(args.data), args.split)  # every image and box, before any step
    workers = args.workers if args.workers is not None else loader_workers(device)
    batches = pair_loader(sequences, family.crop_spec(model.arch), batch_size=args.batch_size, seed=args.seed, workers=workers,
                          pin_memory=device.startswith("cuda"), augment=PROFILES[args.augment])
    result = train(
        family, model, batches, steps=args.steps, lr=args.lr, out_dir=out, save_every=args.save_every,
        snapshot_every=args.snapshot_every,
        resume=args.resume, description=f"train {family.name}/{preset}", device=device, amp=amp,
    )
    summary = result.summary()
    results.print(
        f"trained {family.name}/{preset} for {result.steps} steps: loss {summary.get('loss_first', float('nan')):.4f} -> "
        f"{summary.get('loss_last', float('nan')):.4f}; weights in [bold]{out / 'model.safetensors'}[/]"
    )
    return 0
