"""Options and helpers shared by several subcommands."""
from __future__ import annotations

import argparse

from autoprune.errors import ConfigError


def add_model_options(p: argparse.ArgumentParser, *, required_tracker: bool = False) -> None:
    p.add_argument("--tracker", required=required_tracker, help="tracker family: siamrpn, ostrack or stark")
    p.add_argument("--preset", help="architecture preset of the family (default: its small CPU preset)")
    p.add_argument("--checkpoint", help="official weights (.pth, plain state dict) or .safetensors")
    p.add_argument("--weights", help="a model directory written by `autoprune train` or `autoprune export`")
    p.add_argument("--trust-pickle", action="store_true", help="allow pickled Python objects in --checkpoint (runs code: only for files you trust)")


def add_data_options(p: argparse.ArgumentParser, *, split: str = "val") -> None:
    p.add_argument("--data", help="dataset root (GOT-10k / LaSOT / OTB / TrackingNet layout); default: the built-in dataset")
    p.add_argument("--split", default=split, help=f"split to use (default: {split})")


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
