"""`autoprune prune`: one pruned tracker at a budget — uniform, by importance, or learned gates."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from autoprune.commands._common import add_device_options, add_model_options, data_root, device_from_args, model_from_args, non_negative_int, positive_int

METHODS = ("uniform", "gates")


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1], got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1], got {text!r}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_options(p)
    p.add_argument("--data", help="dataset root for fine-tuning; default: the built-in dataset")
    p.add_argument("--method", default="uniform", choices=METHODS,
                   help="uniform: one keep ratio for every knob of the search space, units ranked by --importance; "
                        "gates: the learned-gate sparsity training of Aggarwal et al. (ICASSP 2023)")
    p.add_argument("--budget-mflops", type=float, help="per-frame FLOPs (MACs) budget in millions")
    p.add_argument("--keep", type=_fraction, help="fraction kept: one ratio (uniform) or of gates (gates), instead of a FLOPs budget")
    p.add_argument("--importance", default="l1", help="uniform method: l1, l2, bn, taylor or random")
    p.add_argument("--mode", default="naive", choices=("naive", "layerwise"), help="gates: global or per-layer thresholding")
    p.add_argument("--gate-steps", type=positive_int, default=100, help="gates: sparsity-training steps")
    p.add_argument("--finetune-steps", type=non_negative_int, default=100, help="fine-tune steps of the child")
    p.add_argument("--space", help="search-space YAML naming the prunable knobs (default: the family's)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--out", required=True, help="export directory for the pruned tracker")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    add_device_options(p, amp=True)  # gate training and the child's fine-tune; scoring and cutting stay on the CPU


def run(args: argparse.Namespace) -> int:
    from autoprune.data import open_split
    from autoprune.data.pairs import pair_loader
    from autoprune.errors import ConfigError, ExportError
    from autoprune.export import export_model
    from autoprune.outputs import check_writable
    from autoprune.progress import results
    from autoprune.prune.methods import prune_gates, prune_uniform
    from autoprune.train import train

    if (args.budget_mflops is None) == (args.keep is None):
        raise ConfigError("give one target: --budget-mflops M or --keep FRACTION")
    if args.budget_mflops is not None and args.budget_mflops <= 0:
        raise ConfigError(f"--budget-mflops must be positive, got {args.budget_mflops:g}")
    if Path(args.out).exists() and not args.force:
        raise ExportError(f"{args.out} exists; choose another --out or pass --force to replace it")
    check_writable(Path(args.out).parent, "--out")  # the export is built beside --out, then renamed
    device, amp = device_from_args(args)
    torch.manual_seed(args.seed)
    family, parent = model_from_args(args)
    root = data_root(args.data)
    sequences = open_split(root, "train")
    batches = pair_loader(sequences, family.crop_spec(parent.arch), batch_size=8, seed=args.seed, pin_memory=device.startswith("cuda"))
    target = args.budget_mflops * 1e6 if args.budget_mflops is not None else None
    if args.method == "gates":
        child, arch, note = prune_gates(parent, batches, steps=args.gate_steps, keep=args.keep, budget_macs=target, mode=args.mode,
                                        device=device, amp=amp)
    else:
        child, arch, note = prune_uniform(parent, space=args.space or family.name, importance=args.importance, keep=args.keep,
                                          budget_macs=target, batches=batches, seed=args.seed)
    if args.finetune_steps:
        train(family, child, batches, steps=args.finetune_steps, description="child fine-tune", device=device, amp=amp)
    parent_cost, child_cost = family.analytic_cost(parent.arch), family.analytic_cost(arch)
    out = export_model(family, child, args.out, force=args.force, info={"method": args.method, "note": note,
                                                                        "parent_cost": parent_cost})
    results.print(
        f"{family.name}: {parent_cost['frame_macs'] / 1e6:.1f} -> {child_cost['frame_macs'] / 1e6:.1f} M FLOPs (MACs) per frame, "
        f"{parent_cost['params'] / 1e6:.3f} -> {child_cost['params'] / 1e6:.3f} M params ({note}); written to [bold]{out}[/]",
        highlight=False,
    )
    return 0
