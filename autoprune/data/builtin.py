"""Where the built-in dataset lives, and generating it once, safely, on first use.

The cache folder is ``$AUTOPRUNE_CACHE`` if set, else ``~/.cache/autoprune``; the dataset
is ``<cache>/builtin-v1-seed<seed>-train<n>-val<n>-test<n>``. Generation writes into a temporary folder beside it
and renames it into place, under a lock file, so concurrent callers (parallel trials,
test workers) never see half a dataset and only one of them does the work.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from autoprune.data import synth

RECORD = "autoprune-builtin.json"  # written last by synth.generate: marks a complete dataset


def cache_dir() -> Path:
    """The autoprune cache folder: ``$AUTOPRUNE_CACHE`` or ``~/.cache/autoprune``."""
    return Path(os.environ.get("AUTOPRUNE_CACHE") or Path.home() / ".cache" / "autoprune").expanduser()


def builtin_name(seed: int = 0, *, train: int = synth.DEFAULT_TRAIN, val: int = synth.DEFAULT_VAL,
                 test: int = synth.DEFAULT_TEST) -> str:
    """Folder name of one built-in dataset version; the sizes are part of it, so a cache made
    with other default sizes is never taken for this one."""
    return f"builtin-v{synth.GENERATOR_VERSION}-seed{seed}-train{train}-val{val}-test{test}"


@contextlib.contextmanager
def _locked(path: Path):
    try:
        import fcntl
    except ImportError:  # no flock here: the rename below still keeps the result whole
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def builtin_root(
    seed: int = 0,
    *,
    train: int = synth.DEFAULT_TRAIN,
    val: int = synth.DEFAULT_VAL,
    test: int = synth.DEFAULT_TEST,
    cache: str | os.PathLike | None = None,
) -> Path:
    """Root of the built-in GOT-10k-layout dataset (splits 'train', 'val' and 'test'), generated on first use.

    Example: ``open_split(builtin_root(), "val")``.
    """
    base = Path(cache).expanduser() if cache else cache_dir()
    target = base / builtin_name(seed, train=train, val=val, test=test)
    if (target / RECORD).is_file():
        return target
    base.mkdir(parents=True, exist_ok=True)
    with _locked(base / f".{target.name}.lock"):
        if (target / RECORD).is_file():  # another process finished while we waited
            return target
        if target.exists():  # an incomplete leftover (no record): replace it
            shutil.rmtree(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=base))
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the dataset is plain shared data
        try:
            synth.generate(tmp, seed=seed, train=train, val=val, test=test)
            try:
                os.rename(tmp, target)
            except OSError:
                if not (target / RECORD).is_file():  # lost a race without a lock, yet no winner
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


# The default size of each built-in split (what ``builtin_root()`` makes).
DEFAULT_SIZES = {"train": synth.DEFAULT_TRAIN, "val": synth.DEFAULT_VAL, "test": synth.DEFAULT_TEST}


def builtin_split_root(split: str, count: int | None = None, seed: int = 0) -> Path:
    """Root of a built-in dataset holding at least ``count`` sequences of ``split``.

    Up to the default size it is the default dataset; beyond it, a dataset of that split alone
    (e.g. the 1280-sequence val split of ``benchmarks/results/yardstick.md``), made on first
    use. Sequence i of a split is the same in both, so the first sequences are shared.
    """
    if split not in DEFAULT_SIZES:
        raise ValueError(f"the built-in dataset has splits {', '.join(DEFAULT_SIZES)}, not {split!r}")
    if count is None or count <= DEFAULT_SIZES[split]:
        return builtin_root(seed)
    return builtin_root(seed, **{name: (count if name == split else 0) for name in DEFAULT_SIZES})
