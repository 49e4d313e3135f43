"""`autoprune study run|report SPEC`: an experiment declared in YAML, run end to end, reported."""
from __future__ import annotations

import argparse
import shlex
import sys
import time

from autoprune.commands._common import add_device_options, device_from_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    run = actions.add_parser("run", help="run the study (resumes: finished cells are kept) and write its report")
    report = actions.add_parser("report", help="rewrite report.md and the plots from the finished cells")
    for action in (run, report):
        action.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors")
        action.add_argument("spec", help="study spec YAML, e.g. studies/paper-stability.yaml (format: docs in studies/README.md)")
    run.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: latency is measured on one core)")
    add_device_options(run, amp=True)  # fine-tunes and tracking; latencies stay CPU measurements
    report.add_argument("--remeasure-latency", action="store_true",
                        help="time every cell's architecture again first, in one run (after a run that shared the machine)")


def run(args: argparse.Namespace) -> int:
    import torch

    from autoprune.errors import ConfigError
    from autoprune.progress import console, results
    from autoprune.study import Study, load_spec, write_report

    spec = load_spec(args.spec)
    started = time.perf_counter()
    device, amp = device_from_args(args) if args.action == "run" else ("cpu", None)
    study = Study(spec, device=device, amp=amp)
    if args.action == "run":
        torch.set_num_threads(args.threads)
        console.print(f"study [bold]{spec.name}[/]: {len(spec.families)} families x {len(spec.methods)} methods x "
                      f"{len(spec.budgets)} budgets; results in {spec.out}", highlight=False)
        cells = study.run()
    else:
        cells = study.cells()
        if cells and args.remeasure_latency:
            torch.set_num_threads(1)
            cells = study.remeasure_latency()
        if not cells:
            raise ConfigError(f"study {spec.name}: no finished cells in {spec.out / 'cells'}; run `autoprune study run {args.spec}` first")
    command = "autoprune " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["study"] else f"autoprune study {args.action} {args.spec}"
    path = write_report(spec, cells, command=command, seconds=time.perf_counter() - started, action=args.action)
    results.print(f"report: [bold]{path}[/]")
    return 0
