"""A model's training flags (e.g. "loaded from official weights") survive saving and loading.

They decide how a later fine-tune treats the model (OSTrack, STARK: a lower LR; SiamRPN++:
backbone BatchNorm statistics kept), so `autoprune train --weights` on an export of a
pruned official tracker must fine-tune it as gently as the search did.
"""
import pytest
import torch

import trackers
from conftest import load_as_checkpoint
from autoprune.data import builtin_root, open_split
from autoprune.data.pairs import pair_loader
from autoprune.export import load_model
from autoprune.export.writer import export_model
from autoprune.models import load_saved
from autoprune.train import train

CASES = [("ostrack", "tiny", "backbone_pretrained"), ("siamrpn", "tiny", "backbone_bn_frozen"), ("stark", "tiny", "backbone_pretrained")]


@pytest.mark.parametrize("name,preset,flag", CASES)
def test_flags_survive_train_outputs_and_exports(tmp_path, name, preset, flag):
    torch.manual_seed(0)
    family = trackers.get(name)
    loaded = load_as_checkpoint(family, preset, family.create(preset), tmp_path)
    assert getattr(loaded, flag) is True

    batches = pair_loader(open_split(builtin_root(), "train"), family.crop_spec(loaded.arch), batch_size=2, seed=0)
    train(family, loaded, batches, steps=1, out_dir=tmp_path / "trained", save_every=0, progress=False)
    _, reloaded = load_saved(tmp_path / "trained")
    assert getattr(reloaded, flag) is True

    export_model(family, reloaded, tmp_path / "export")
    _, exported = load_model(tmp_path / "export")
    assert getattr(exported, flag) is True
    _, via_saved = load_saved(tmp_path / "export")
    assert getattr(via_saved, flag) is True

    scratch = family.create(preset)
    export_model(family, scratch, tmp_path / "scratch")
    assert getattr(load_model(tmp_path / "scratch")[1], flag, False) is False


@pytest.mark.parametrize("name,preset,flag", CASES)
def test_a_file_autoprune_wrote_keeps_its_flags_through_checkpoint(tmp_path, name, preset, flag):
    """A parent trained here from scratch, saved and passed back as --checkpoint, is still one:
    its children get the fine-tune they get when it is built in (a study's searches load their
    parent from such a file, its uniform children cut it in memory). A file autoprune did not
    write is loaded as official weights."""
    from autoprune.checkpoint import save_safetensors

    family = trackers.get(name)
    scratch = family.create(preset)
    path = tmp_path / "scratch.safetensors"
    save_safetensors(scratch.state_dict(), path, metadata=family.weights_metadata(scratch))
    assert getattr(family.create(preset, checkpoint=str(path)), flag) is False

    official = load_as_checkpoint(family, preset, scratch, tmp_path)  # no autoprune metadata
    assert getattr(official, flag) is True
    again = tmp_path / "official-again.safetensors"
    save_safetensors(official.state_dict(), again, metadata=family.weights_metadata(official))
    assert getattr(family.create(preset, checkpoint=str(again)), flag) is True
