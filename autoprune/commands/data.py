"""`autoprune data`: make the built-in dataset, summarise or check any dataset."""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from rich.table import Table

from autoprune.commands._common import non_negative_int, positive_int
from autoprune.errors import ConfigError
from autoprune.progress import progress_bar, results


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True, parser_class=type(p))
    synth = sub.add_parser("synth", help="write the built-in photo-textured dataset in GOT-10k layout")
    synth.add_argument("--out", required=True, help="output directory (must not exist unless --force)")
    synth.add_argument("--seed", type=non_negative_int, default=0)
    synth.add_argument("--train", type=non_negative_int, default=None,
                       help="number of train sequences (default 192; sequence i is the same for any count)")
    synth.add_argument("--val", type=non_negative_int, default=None, help="number of val sequences (default 64)")
    synth.add_argument("--test", type=non_negative_int, default=None,
                       help="number of held-out test sequences, for headline numbers only (default 64)")
    synth.add_argument("--force", action="store_true", help="replace an existing output directory")
    info = sub.add_parser("info", help="splits, sequences and frames of a dataset")
    info.add_argument("root", nargs="?", help="dataset root (default: the built-in dataset)")
    info.add_argument("--split", action="append", help="split(s) to list (default: those of train, val and test it has)")
    check = sub.add_parser("check", help="read every image header and annotation; report the first problem")
    check.add_argument("root", nargs="?", help="dataset root (default: the built-in dataset)")
    check.add_argument("--split", default="val")
    check.add_argument("--limit", type=positive_int, help="check only the first N sequences")
    path = sub.add_parser("path", help="print the built-in dataset's directory (made if missing)")
    path.add_argument("--seed", type=non_negative_int, default=0)


def run(args: argparse.Namespace) -> int:
    from autoprune import data
    from autoprune.outputs import check_writable

    if args.data_command == "synth":
        out = Path(args.out)
        if out.exists() and any(out.iterdir()):
            if not args.force:
                raise ConfigError(f"--out {out} exists and is not empty; choose a new directory or pass --force")
            shutil.rmtree(out)
        check_writable(out, "--out")
        train = data.synth.DEFAULT_TRAIN if args.train is None else args.train
        val = data.synth.DEFAULT_VAL if args.val is None else args.val
        test = data.synth.DEFAULT_TEST if args.test is None else args.test
        data.synth.generate(out, seed=args.seed, train=train, val=val, test=test)
        results.print(f"wrote the built-in dataset to [bold]{out}[/] (train {train}, val {val}, test {test}, seed {args.seed})")
        return 0
    if args.data_command == "path":
        print(data.builtin_root(seed=args.seed))
        return 0
    root = args.root or data.builtin_root()
    if args.data_command == "info":
        table = Table(title=f"dataset {root}")
        for col in ("split", "sequences", "frames", "visible frames"):
            table.add_column(col, justify="right" if col != "split" else "left")
        for split, seqs in _splits(root, args.split):
            frames = sum(len(s) for s in seqs)
            visible = sum(int(s.visible.sum()) for s in seqs)
            table.add_row(split, str(len(seqs)), str(frames), str(visible))
        results.print(table)
        return 0
    from autoprune.data.verify import check_names, check_tracked_sequence

    seqs = data.open_split(root, args.split)[: args.limit]
    check_names(seqs, args.split, root)
    with progress_bar("checking", total=len(seqs)) as bar:
        for seq in seqs:
            check_tracked_sequence(seq, args.split)
            bar.advance(1)
    results.print(f"[green]ok[/]: {len(seqs)} sequences of {root} ({args.split}) read without problems")
    return 0


def _splits(root, named: list[str] | None):
    """(split, sequences) for the splits named, or for whichever of train/val/test the dataset has."""
    from autoprune import data
    from autoprune.errors import DataError

    if named:
        return [(split, data.open_split(root, split)) for split in named]
    found = []
    for split in ("train", "val", "test"):
        try:
            found.append((split, data.open_split(root, split)))
        except DataError:
            continue  # e.g. a dataset without a test split
    if not found:
        raise ConfigError(f"{root}: no train, val or test split found; name one with --split")
    return found
