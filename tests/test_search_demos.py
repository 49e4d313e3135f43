"""The main job's acceptance runs as the README's table states them: a search from a shipped demo
parent at a budget that forces a 10x smaller child (2 cores, default settings) exports a child whose
full-validation AO is at least twice the static box's, and whose SR0.5 is above it."""
import pytest
import torch


@pytest.mark.slow
@pytest.mark.parametrize("tracker, preset, budget", [("stark", "small", 10.0), ("ostrack", None, 2.7)])
def test_a_tenth_of_the_demo_parent_clearly_beats_the_static_box(tmp_path, tracker, preset, budget):
    from autoprune.data import builtin_root, open_split
    from autoprune.eval import evaluate
    from autoprune.eval.baselines import StaticBoxTracker
    from autoprune.export.loader import load_model
    from autoprune.pipeline import search
    from autoprune.run.settings import SearchSettings

    torch.set_num_threads(1)
    s = SearchSettings.from_options(tracker=tracker, preset=preset, budget_kind="mflops", budget_value=budget, workers=2,
                                    runs_dir=str(tmp_path / "runs"), command="autoprune search (acceptance test)")
    summary = search(s, progress=False)
    family, model = load_model(summary["export"])
    child_macs = family.analytic_cost(model.arch)["frame_macs"]
    parent_macs = family.analytic_cost(family.arch(preset or family.default_preset))["frame_macs"]
    assert child_macs <= budget * 1e6 and 10 * child_macs <= parent_macs
    val = open_split(builtin_root(), "val")
    child = evaluate(lambda: family.make_tracker(model), val, progress=False)
    static = evaluate(StaticBoxTracker(), val, progress=False)
    print(f"{tracker}: {child_macs / 1e6:.2f} M MACs ({parent_macs / child_macs:.1f}x fewer), "
          f"AO {child.ao:.3f} / SR0.5 {child.sr50:.3f} vs static {static.ao:.3f} / {static.sr50:.3f}")
    assert child.ao >= 2 * static.ao and child.sr50 > static.sr50
