"""Declared coupling agrees with Torch-Pruning's dependency graph where it can trace the model."""
from __future__ import annotations

import pytest
import torch
import torch_pruning as tp
from torch import nn

import trackers


def _declared(group, prefix: str) -> set[tuple[str, str]]:
    """(module, 'out'|'in') pairs a group's members touch inside ``prefix``."""
    pairs = set()
    for m in group.members:
        if not m.key.startswith(prefix) or not m.key.endswith(".weight"):
            continue
        module = m.key[len(prefix):-len(".weight")]
        pairs.add((module, "out" if m.dim == 0 else "in"))
    return pairs


def _traced(backbone: nn.Module, graph, module_name: str) -> set[tuple[str, str]]:
    modules = dict(backbone.named_modules())
    names = {m: n for n, m in modules.items()}
    group = graph.get_pruning_group(modules[module_name], tp.prune_conv_out_channels, idxs=[0])
    pairs = set()
    for dep, _ in group:
        target = dep.target.module
        if target not in names or not isinstance(target, (nn.Conv2d, nn.BatchNorm2d)):
            continue
        handler = getattr(dep.handler, "__name__", str(dep.handler))
        direction = "in" if "in_channels" in handler else "out"
        pairs.add((names[target], direction))
    return pairs


@pytest.mark.parametrize("preset", ["small", "tiny"])
def test_siamrpn_backbone_groups_match_the_dependency_graph(preset):
    family = trackers.get("siamrpn")
    model = family.create(preset).eval()
    backbone = model.backbone
    example = torch.randn(1, 3, model.arch["template_size"], model.arch["template_size"])
    graph = tp.DependencyGraph().build_dependency(backbone, example_inputs=example)
    checked = 0
    for group in family.unit_groups(model.arch):
        declared = _declared(group, "backbone.")
        producers = sorted(n for n, d in declared if d == "out" and isinstance(dict(backbone.named_modules())[n], nn.Conv2d))
        if not producers:
            continue
        traced = _traced(backbone, graph, producers[0])
        assert traced == declared, f"{group.name}: declared {sorted(declared ^ traced)} differ from the traced graph"
        checked += 1
    assert checked >= 5
