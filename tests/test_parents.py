"""Demo parents shipped with the families: used only for their exact record, described honestly."""
import pytest
import torch

import trackers
from autoprune.data import builtin_root
from autoprune.run.parent import prepare_parent, shipped_parent

SHIPPED = [("siamrpn", "small"), ("ostrack", "tiny"), ("stark", "tiny"), ("stark", "small")]


@pytest.mark.parametrize("family_name,preset", SHIPPED)
def test_shipped_parent_loads_for_its_preset_and_says_what_it_is(family_name, preset):
    family = trackers.get(family_name)
    untrained = family.create(preset)
    parent = prepare_parent(family, preset=preset, checkpoint=None, data_root=builtin_root(), builtin=True)
    assert parent.source == f"shipped:{family_name}/{preset}"
    assert "trained on the built-in dataset" in parent.description and "val AO" in parent.description
    assert "--checkpoint" in parent.description
    trained, fresh = parent.model.state_dict(), untrained.state_dict()
    assert trained.keys() == fresh.keys()
    assert any(not torch.equal(trained[k], fresh[k]) for k in trained if trained[k].is_floating_point())


@pytest.mark.parametrize("family_name,preset", SHIPPED)
def test_shipped_weights_are_not_used_for_another_record(family_name, preset):
    family = trackers.get(family_name)
    child, arch = _half(family, preset)
    assert arch != family.arch(preset)
    assert shipped_parent(family, child) is None


def _half(family, preset):
    from autoprune.prune.pruner import Pruner
    from autoprune.prune.space import load_space

    pruner = Pruner(family.create(preset).eval(), load_space(family.name))
    return pruner.prune(pruner.space.uniform(0.5))
