"""`autoprune export RUN`: write a search trial as a stand-alone tracker."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="a search run directory (runs/<study>)")
    p.add_argument("--trial", default="best", help="'best' (highest full-validation AO at 90-100 %% of the budget, else within it) or a trial number")
    p.add_argument("--out", help="output directory (default runs/<study>/export/<trial>)")
    p.add_argument("--onnx", action="store_true", help="also write model.onnx of the per-frame path, checked with onnxruntime")
    p.add_argument("--force", action="store_true", help="replace an existing output directory")


def run(args: argparse.Namespace) -> int:
    from autoprune.errors import ConfigError
    from autoprune.export.trial import export_trial
    from autoprune.outputs import check_writable
    from autoprune.run.study import open_run
    from autoprune.progress import results

    trial = args.trial
    if trial != "best" and not trial.isdigit():
        raise ConfigError(f"--trial {trial!r}: expected 'best' or a trial number")
    # before any fine-tune an unvalidated trial needs: an unwritable --out is one line at once
    check_writable(args.out or Path(open_run(args.run).run_dir) / "export", "--out")
    out = export_trial(args.run, trial=trial, out=args.out, onnx=args.onnx, force=args.force)
    results.print(f"exported to [bold]{out}[/] (arch.json, model.safetensors, card.md{', model.onnx' if args.onnx else ''})")
    return 0
