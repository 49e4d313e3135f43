"""Search-space files: schema validation with clear errors, binding to a family's groups."""
from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from autoprune.errors import ConfigError
from autoprune.prune.space import bind, load_space, parse_space
from trackers.siamrpn import pruning
from trackers.siamrpn.presets import R50, SMALL


def test_builtin_spaces_load():
    space = load_space("siamrpn")
    assert space.family == "siamrpn" and space.multiple == 8
    assert {k.name for k in space.knobs} >= {"stem", "layer3.inner", "layer3.depth", "neck"}


def test_space_binds_to_official_and_small_presets():
    space = load_space("siamrpn")
    for arch in (R50, SMALL):
        bound = bind(space, pruning.unit_groups(arch), pruning.blocks(arch))
        assert bound.knobs
        config = bound.config(bound.full())
        assert all(config.keep[g.name] == g.size for g in pruning.unit_groups(arch) if g.name in config.keep)


def test_rounding_to_multiples_and_never_zero():
    space = load_space("siamrpn")
    bound = bind(space, pruning.unit_groups(R50), pruning.blocks(R50))
    config = bound.config(bound.smallest())
    assert all(n % 8 == 0 and n >= 8 for n in config.keep.values())


@pytest.mark.parametrize(
    "doc, fragment",
    [
        ({"family": "siamrpn", "knobs": [{"name": "a", "groups": ["stem"], "kep": [0.5, 1]}]}, "knobs[0].kep: unknown key"),
        ({"family": "siamrpn", "knobs": [{"name": "a", "groups": ["stem"], "keep": [0, 1]}]}, "0 < low <= high <= 1"),
        ({"family": "siamrpn", "knobs": [{"name": "a", "groups": ["stem"], "keep": [0.9, 0.5]}]}, "keep"),
        ({"family": "siamrpn", "knobs": []}, "knobs: expected a non-empty list"),
        ({"family": "siamrpn", "knobs": [{"name": "a", "keep": [0.5, 1]}]}, "exactly one of 'groups'"),
        ({"family": "siamrpn", "knobs": [{"name": "a", "depth": "x", "keep": [0.5, 1]}]}, "whole numbers"),
        ({"family": "siamrpn", "multiple": 0, "knobs": [{"name": "a", "groups": ["stem"], "keep": [0.5, 1]}]}, "multiple"),
        ({"family": "siamrpn", "colour": 1, "knobs": [{"name": "a", "groups": ["stem"], "keep": [0.5, 1]}]}, "colour: unknown key"),
    ],
)
def test_bad_space_names_file_key_and_form(tmp_path, doc, fragment):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as exc:
        load_space(path)
    message = str(exc.value)
    assert str(path) in message and fragment in message and "\n" not in message


def test_pattern_matching_nothing_is_an_error_unless_optional():
    groups, blocks = pruning.unit_groups(SMALL), pruning.blocks(SMALL)
    strict = parse_space({"family": "siamrpn", "knobs": [{"name": "a", "groups": ["layer9.*"], "keep": [0.5, 1]}]}, "s.yaml")
    with pytest.raises(ConfigError, match="match no group"):
        bind(strict, groups, blocks)
    lenient = parse_space({"family": "siamrpn", "knobs": [
        {"name": "a", "groups": ["layer9.*"], "keep": [0.5, 1], "optional": True},
        {"name": "b", "groups": ["stem"], "keep": [0.5, 1]}]}, "s.yaml")
    assert [k.name for k in bind(lenient, groups, blocks).knobs] == ["b"]


def test_overlapping_knobs_are_rejected():
    space = parse_space({"family": "siamrpn", "knobs": [
        {"name": "a", "groups": ["layer1.*"], "keep": [0.5, 1]}, {"name": "b", "groups": ["layer1.out"], "keep": [0.5, 1]}]}, "s.yaml")
    with pytest.raises(ConfigError, match="set by two knobs"):
        bind(space, pruning.unit_groups(SMALL), pruning.blocks(SMALL))


def test_missing_file_and_broken_yaml(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_space(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("family: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_space(bad)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["family", "knobs", "multiple", "extra"]),
                       st.one_of(st.none(), st.integers(-3, 3), st.text(max_size=4), st.lists(st.integers(), max_size=2))))
def test_random_documents_either_parse_or_raise_config_error(doc):
    try:
        parse_space(doc, "random.yaml")
    except ConfigError as exc:
        assert str(exc).startswith("random.yaml")


def test_default_spaces_live_in_the_family_folders_and_former_paths_still_name_them():
    import search_spaces
    import trackers

    assert search_spaces.names() == trackers.available()
    for name in search_spaces.names():
        assert load_space(name).source == f"trackers/{name}/space.yaml"
        assert load_space(f"search_spaces/{name}.yaml").knobs == load_space(name).knobs


def test_extended_ranges_and_the_crops_knob_bind_only_when_asked():
    doc = {"family": "siamrpn", "multiple": 8, "knobs": [
        {"name": "stem", "groups": ["stem"], "keep": [0.25, 1.0], "extended": {"keep": [0.0625, 1.0], "multiple": 2}},
        {"name": "resolution", "crops": True, "keep": [1.0, 1.0], "extended": {"keep": [0.5, 1.0], "step": 0.125}},
    ]}
    space = parse_space(doc, "test.yaml")
    groups, blocks = pruning.unit_groups(SMALL), pruning.blocks(SMALL)
    regular = bind(space, groups, blocks)
    assert [k.name for k in regular.knobs] == ["stem"] and regular.crops is None  # pinned at 1: left out
    assert regular.config(regular.smallest()).keep["stem"] == 8
    extended = bind(space, groups, blocks, extended=True)
    assert extended.crops.low == 0.5 and extended.uniform(0.3)["resolution"] == 1.0
    config = extended.config(extended.smallest())
    assert config.keep["stem"] == 2 and config.crop_scale == 0.5


@pytest.mark.parametrize("knob, fragment", [
    ({"name": "r", "crops": "yes", "keep": [0.5, 1.0]}, "knobs[0] (r).crops: expected true"),
    ({"name": "r", "crops": True, "groups": ["stem"], "keep": [0.5, 1.0]}, "give exactly one of"),
    ({"name": "s", "groups": ["stem"], "keep": [0.5, 1.0], "extended": {"keep": [0, 1.0]}}, "extended.keep"),
    ({"name": "s", "groups": ["stem"], "keep": [0.5, 1.0], "extended": {"low": 0.1}}, "extended: expected a mapping with keep"),
])
def test_bad_crops_and_extended_keys_are_one_clear_error(knob, fragment):
    with pytest.raises(ConfigError, match=None) as err:
        parse_space({"family": "siamrpn", "knobs": [knob]}, "test.yaml")
    assert fragment in str(err.value) and "\n" not in str(err.value)
