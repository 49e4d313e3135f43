"""Options and helpers shared by several subcommands."""
from __future__ import annotations

import argparse

from autoprune.errors import ConfigError


DEFAULT_TRACKER = "siamrpn"  # the family a command uses when neither --tracker nor a file names one


def tracker_choices() -> str:
    """The registered family names for help texts ("a, b or c"), read from the folders without importing them."""
    import trackers

    names = trackers.available()
    return " or ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)


def add_model_options(p: argparse.ArgumentParser, *, required_tracker: bool = False) -> None:
    p.add_argument("--tracker", required=required_tracker, help=f"tracker family: {tracker_choices()}")
    p.add_argument("--preset", help="architecture preset of the family (default: its small CPU preset)")
    p.add_argument("--checkpoint", help="official weights (.pth, plain state dict) or .safetensors")
    p.add_argument("--weights", help="a model directory written by `autoprune train` or `autoprune export`")
    p.add_argument("--trust-pickle", action="store_true", help="allow pickled Python objects in --checkpoint (runs code: only for files you trust)")
    p.add_argument("--random-init", action="store_true",
                   help="random weights instead of the family's shipped demo weights (used when no --checkpoint / --weights)")


def model_from_args(args: argparse.Namespace, *, random_reason: str | None = None, default_tracker: str | None = None):
    """(family, model) of the model options, after printing which weights it holds as the first line (stderr).

    ``random_reason``: this command starts from random weights without --random-init (why, in
    a few words); otherwise a preset gets its shipped demo weights or fails (models.resolve).
    """
    from autoprune.models import resolve
    from autoprune.progress import console

    if args.random_init and (args.checkpoint or args.weights):
        raise ConfigError("--random-init contradicts --checkpoint / --weights; pass one of them")
    reason = "--random-init" if args.random_init else random_reason
    family, model, note = resolve(args.tracker, args.preset, args.checkpoint, args.weights, trust_pickle=args.trust_pickle,
                                  random_init=reason is not None, random_reason=reason or "", default_tracker=default_tracker)
    console.print(note, markup=False, highlight=False, soft_wrap=True)
    return family, model


def add_data_options(p: argparse.ArgumentParser, *, split: str = "val") -> None:
    p.add_argument("--data", help="dataset root (GOT-10k / LaSOT / OTB / TrackingNet layout); default: the built-in dataset")
    p.add_argument("--split", default=split, help=f"split to use (default: {split})")


def add_device_options(p: argparse.ArgumentParser, *, amp: bool = False, default: str | None = "cpu",
                       default_help: str = "cpu") -> None:
    from autoprune.device import AMP_MODES, DEVICE_HELP

    p.add_argument("--device", default=default, help=f"where models run: {DEVICE_HELP} (default {default_help})")
    if amp:
        p.add_argument("--amp", nargs="?", const="bf16", choices=AMP_MODES,
                       help="mixed precision on CUDA: bf16 (the default of a bare --amp) or fp16 (loss-scaled); refused on the CPU")


def device_from_args(args: argparse.Namespace) -> tuple[str, str | None]:
    """(device, amp) of a command's --device / --amp, checked: one ConfigError line when either cannot run here."""
    from autoprune.device import check_amp, resolve_device

    device = resolve_device(args.device)
    return device, check_amp(getattr(args, "amp", None), device)


def data_root(value: str | None):
    """The dataset root a user named, or the built-in dataset (made on first use)."""
    from autoprune.data import builtin_root

    return value if value else builtin_root()


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def not_built(name: str) -> None:
    raise ConfigError(f"`autoprune {name}` is not available in this version yet")
