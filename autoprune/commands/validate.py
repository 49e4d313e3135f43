"""`autoprune validate RUN`: (re-)validate a search's Pareto set or chosen trials."""
from __future__ import annotations

import argparse
import os

from autoprune.commands._common import add_device_options, device_from_args, non_negative_int, positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="a search run directory (runs/<study>)")
    p.add_argument("--trials", type=non_negative_int, nargs="+", help="trial numbers (default: the Pareto set)")
    p.add_argument("--steps", type=non_negative_int, help="fine-tune steps per child (default: the run's --validate-steps)")
    p.add_argument("--max", type=positive_int, default=3, help="validate at most this many Pareto children")
    p.add_argument("--workers", type=positive_int, default=min(2, os.cpu_count() or 1),
                   help="processes sharing the children (default: 2 or the CPU count if smaller)")
    add_device_options(p, amp=True, default=None, default_help="the run's own")


def run(args: argparse.Namespace) -> int:
    from autoprune.data import builtin_root
    from autoprune.data.verify import check_splits
    from autoprune.outputs import check_writable
    from autoprune.progress import results
    from autoprune.run.study import open_run
    from autoprune.validate import validate_run
    from autoprune.validate.choose import check_something_to_validate
    from autoprune.validate.pareto import select_for_validation

    device, amp = device_from_args(args) if args.device is not None else (None, None)
    info = open_run(args.run)
    check_writable(info.run_dir, "the run folder")  # validated children and pareto.png are written there
    # before the parent and data are loaded: a run with nothing to validate says so at once
    check_something_to_validate(args.run, info.study, args.trials, select_for_validation(info.study, args.max))
    steps = args.steps if args.steps is not None else info.record.validate_steps
    check_splits(info.settings.data or builtin_root(), ("train", "val"))  # fine-tune and val data, checked first
    best = validate_run(args.run, trials=args.trials, max_children=args.max, steps=steps, workers=args.workers,
                        device=device, amp=amp)
    results.print(f"best child: trial {best}" if best is not None else "no validated child within budget")
    return 0
