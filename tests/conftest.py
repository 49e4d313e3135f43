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
    from autoprune.run.settings import SearchSettings

    base = dict(tracker="siamrpn", preset="tiny", budget_kind="mflops", budget_value=25.0, trials=3, proxy_steps=1,
                proxy_sequences=1, parent_steps=4, validate_max=0, runs_dir=str(tmp_path / "runs"), command="autoprune search (test)")
    return SearchSettings.from_options(**{**base, **overrides})


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


def smallest_preset(family) -> str:
    """The preset with the fewest per-frame MACs: the cheapest one to prune, train and export in a test."""
    return min(family.presets, key=lambda name: family.analytic_cost(family.arch(name))["frame_macs"])


def builtin_val_sequence(index: int = 0):
    """A sequence of the built-in val split (every family's tracking tests run on it)."""
    from autoprune.data import builtin_root, open_split

    return open_split(builtin_root(), "val")[index]


def pruned_child(family, preset: str, *, seed: int = 1):
    """A child of a seeded ``family/preset`` parent pruned by a random point of the family's default space."""
    import numpy as np
    import torch

    from autoprune.prune.pruner import Pruner
    from autoprune.prune.space import load_space

    torch.manual_seed(0)
    pruner = Pruner(family.create(preset).eval(), load_space(family.name))
    child, arch = pruner.prune(pruner.space.random(np.random.default_rng(seed)))
    return child.eval(), arch


def tiny_siamrpn_pruner():
    """A seeded siamrpn/tiny parent's pruner, with 4 built-in train and 2 val sequences."""
    import trackers
    from autoprune.data import builtin_root, open_split
    from autoprune.prune.pruner import Pruner
    from autoprune.prune.space import load_space

    family = trackers.get("siamrpn")
    torch.manual_seed(0)
    pruner = Pruner(family.create("tiny").eval(), load_space("siamrpn"))
    root = builtin_root()
    return family, pruner, open_split(root, "train")[:4], open_split(root, "val")[:2]


def track_steps(tracker, sequence, frames: int):
    """Boxes of ``tracker`` started afresh on each of the first ``frames`` frames from the true box.

    One step from the same state each time: a closed loop of an untrained model is chaotic, so
    two runtimes are compared step by step rather than along their own paths.
    """
    import numpy as np

    boxes = []
    for i in range(1, frames):
        tracker.init(sequence.image(i - 1), sequence.boxes[i - 1])
        boxes.append(tracker.update(sequence.image(i)))
    return np.array(boxes)


def seeded_outputs(family, arch, *, batch: int = 2):
    """The outputs of a seeded, randomly initialised ``family.build(arch)`` on the family's example inputs."""
    import torch

    torch.manual_seed(0)
    model = family.build(arch).eval()
    z, x = family.example_inputs(model.arch, batch=batch)
    with torch.no_grad():
        return model(z, x)
