"""The ``autoprune`` command: one entry point, one module per subcommand.

Errors meant for users print as one line and exit with status 2; ``--debug`` shows the
traceback instead.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from rich.markup import escape

from autoprune.errors import AutoPruneError
from autoprune.progress import console
from autoprune.redact import mask_secrets

# name -> (module under autoprune.commands, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "data": ("data", "make, inspect and check tracking datasets (the built-in one included)"),
    "train": ("train", "train a tracker preset on a dataset"),
    "evaluate": ("evaluate", "track a dataset split and report AO / SR / AUC / precision / FPS"),
    "profile": ("profile", "per-frame and init FLOPs (MACs), params and latency per stage"),
    "prune": ("prune", "prune a tracker to a budget (uniform, importance or learned gates)"),
    "search": ("search", "search per-layer pruning ratios under a FLOPs (MACs) or latency budget"),
    "validate": ("validate", "fully validate the Pareto-optimal children of a search run"),
    "export": ("export", "write a pruned tracker: arch.json + model.safetensors + card (+ ONNX)"),
    "dashboard": ("dashboard", "open a search run in optuna-dashboard on 127.0.0.1"),
    "study": ("study", "run a study spec (e.g. CNN vs transformer stability) and write its report"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, status 2, like every other user error
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="autoprune",
        description="Turn large visual object trackers into light-weight ones by searching per-layer "
        "pruning under a per-frame budget. FLOPs are reported as multiply-accumulates (MACs), "
        "the convention of tracking papers.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module, help_text) in SUBCOMMANDS.items():
        command = importlib.import_module(f"autoprune.commands.{module}")
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors")
        command.add_arguments(p)
        p.set_defaults(_run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv  # the command line as given, for commands that record how they were run
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        result = args._run(args)
        return int(result or 0)
    except AutoPruneError as exc:
        if getattr(args, "debug", False):
            raise
        # escaped: messages quote user text and forms like "[low, high]", which are not markup
        # masked: a message may quote a storage URL, whose password is never printed
        console.print(f"[bold red]error:[/] {escape(mask_secrets(str(exc)))}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
