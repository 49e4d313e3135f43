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
