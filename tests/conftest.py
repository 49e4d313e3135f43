"""Test-wide settings: one torch thread per process (small models; several processes share few cores)."""
import torch

torch.set_num_threads(1)


def builtin_train_pairs(family, preset: str, *, batch_size: int, seed: int = 0, **options):
    """Deterministic training pairs of the built-in train split, cropped for ``family``'s ``preset``."""
    from autoprune.data import builtin_root, open_split
    from autoprune.data.pairs import pair_loader

    return pair_loader(open_split(builtin_root(), "train"), family.crop_spec(family.arch(preset)),
                       batch_size=batch_size, seed=seed, **options)


def load_as_checkpoint(family, preset: str, model, tmp_path):
    """``model``'s weights loaded back through ``--checkpoint`` (as official weights would be)."""
    from safetensors.torch import save_file

    weights = tmp_path / f"{family.name}-{preset}.safetensors"
    save_file(model.state_dict(), str(weights))
    return family.create(preset, checkpoint=str(weights))


def tiny_search_settings(tmp_path, **overrides):
    """SearchSettings of a seconds-long siamrpn/tiny search under ``tmp_path`` (no validation unless asked)."""
    from autoprune.search.runner import SearchSettings

    base = dict(tracker="siamrpn", preset="tiny", budget_kind="mflops", budget_value=25.0, trials=3, proxy_steps=1,
                proxy_sequences=1, parent_steps=4, validate_max=0, runs_dir=str(tmp_path / "runs"), command="autoprune search (test)")
    return SearchSettings(**{**base, **overrides})


def run_cli(cwd, *args: str, timeout: float = 600):
    """``autoprune ARGS`` in a fresh process started in ``cwd``, stdout and stderr captured apart."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    return subprocess.run([sys.executable, "-m", "autoprune.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})


def one_error_line(done) -> str:
    """The single 'error:' line of a run that must fail as a user error (exit 2, no traceback)."""
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    return errors[0]
