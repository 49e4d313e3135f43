"""SiamRPN++ network: pysot's parameter count and checkpoint wrapper, timm's ResNet-50, output shapes, MACs, records.

What every family must do (layouts, costs, rebuilds, tracking, export) is in test_family_conformance.py.
"""
from __future__ import annotations

import copy

import pytest
import torch

import trackers
from autoprune.errors import ConfigError

FAMILY = trackers.get("siamrpn")


@pytest.fixture(scope="module")
def r50():
    torch.manual_seed(0)
    return FAMILY.create("r50").eval()


def _pruned_record() -> dict:
    """A record as a pruner would write it: uneven widths everywhere, a block dropped."""
    rec = FAMILY.arch("small")
    rec["stem"] = 20
    rec["stages"][0] = {"out": 40, "blocks": [{"inner1": 8, "inner2": 12}]}
    rec["stages"][1]["blocks"] = [{"inner1": 24, "inner2": 16}]
    rec["stages"][2] = {"out": 200, "blocks": [{"inner1": 40, "inner2": 56}, {"inner1": 8, "inner2": 24}]}
    rec["rpn"][0].update(neck=48, cls={"xcorr": 40, "hidden": 24}, loc={"xcorr": 32, "hidden": 16})
    rec["rpn"][1].update(neck=56, cls={"xcorr": 24, "hidden": 40}, loc={"xcorr": 48, "hidden": 8})
    return FAMILY.validate_arch(rec)


def test_r50_has_pysots_parameter_count(r50):
    assert sum(p.numel() for p in r50.parameters()) == 53_950_624


def test_r50_backbone_equals_timm_resnet50(r50):
    timm = pytest.importorskip("timm")
    ref = timm.create_model("resnet50", features_only=True, out_indices=(2, 3, 4), output_stride=8, down_kernel_size=3)
    for conv in (ref.conv1, ref.layer2[0].conv2, ref.layer2[0].downsample[0]):
        conv.padding = (0, 0)  # pysot's three zero paddings
    ref.load_state_dict(r50.backbone.state_dict(), strict=True)
    ref.eval()
    z = torch.rand(1, 3, 63, 63, generator=torch.Generator().manual_seed(1)) * 255
    with torch.no_grad():
        ours, theirs = r50.backbone(z), ref(z)
    assert [tuple(f.shape) for f in ours] == [(1, 512, 7, 7), (1, 1024, 7, 7), (1, 2048, 7, 7)]
    for a, b in zip(ours, theirs):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)


def test_outputs_are_pysots_cls_and_loc_maps_and_the_cache_holds_every_level():
    rec = _pruned_record()
    torch.manual_seed(0)
    model = FAMILY.build(rec).eval()
    z, x = FAMILY.example_inputs(rec, batch=2)
    with torch.no_grad():
        cache = model.template(z)
        out = model.track(cache, x)
    anchors = len(rec["anchor"]["ratios"]) * len(rec["anchor"]["scales"])
    assert out["cls"].shape == (2, 2 * anchors, 9, 9) and out["loc"].shape == (2, 4 * anchors, 9, 9)
    assert len(cache) == 2 * len(rec["rpn"])


def test_r50_macs_match_published():
    cost = FAMILY.analytic_cost(FAMILY.arch("r50"))
    assert abs(cost["frame_macs"] - 48.9e9) / 48.9e9 < 0.01
    assert abs(cost["init_macs"] - 10.7e9) / 10.7e9 < 0.01


def test_small_presets_are_small():
    for name in ("tiny", "small"):
        cost = FAMILY.analytic_cost(FAMILY.arch(name))
        assert cost["frame_macs"] < 0.25e9 and cost["params"] < 1.5e6
    assert FAMILY.official_preset == "r50" and FAMILY.preset("r50").official
    assert FAMILY.default_preset in ("tiny", "small")


def _broken(change) -> dict:
    rec = copy.deepcopy(FAMILY.arch("small"))
    change(rec)
    return rec


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda r: r.update(family="ostrack"), "'family'"),
        (lambda r: r.update(version=2), "version 2 is newer"),
        (lambda r: r["stages"][1].update(out=0), "stages[1] (layer2).out"),
        (lambda r: r["stages"][2]["blocks"][0].pop("inner2"), "inner2"),
        (lambda r: r.update(rpn=r["rpn"][:1]), "add level 3"),
        (lambda r: r["rpn"][0].update(level=4), "only 3 stages"),
        (lambda r: r["anchor"].update(stride=16), "anchor.stride"),
        (lambda r: r.update(template_size=23), "'template_size'"),
    ],
)
def test_bad_records_name_the_problem(change, words):
    with pytest.raises(ConfigError) as err:
        FAMILY.validate_arch(_broken(change))
    assert words in str(err.value) and "\n" not in str(err.value)
