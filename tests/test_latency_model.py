"""The latency model behind --budget-ms: its features, its fit, its cache in the run, and the runtimes."""
from __future__ import annotations

import json

import numpy as np
import optuna
import pytest
import torch

import trackers
from autoprune.cost.latency_model import FEATURES, LatencyModel, fit_latency_model, frame_features
from autoprune.cost.runtime import frame_latency, write_frame_onnx
from autoprune.errors import ConfigError
from autoprune.prune.pruner import Pruner
from autoprune.prune.space import load_space


def _pruner(name: str, preset: str = "tiny") -> Pruner:
    torch.manual_seed(0)
    family = trackers.get(name)
    return Pruner(family.create(preset).eval(), load_space(name))


@pytest.mark.parametrize("name", ["siamrpn", "ostrack", "stark"])
def test_the_meta_trace_counts_every_mac_the_analytic_cost_counts(name):
    pruner = _pruner(name)
    family = pruner.family
    for seed in (0, 1):
        arch = pruner.child_arch(pruner.space.random(np.random.default_rng(seed)))
        feats = frame_features(family, arch)
        products = (feats["conv_gmacs"] + feats["grouped_gmacs"] + feats["matmul_gmacs"]) * 1e9
        assert products == pytest.approx(family.analytic_cost(arch)["frame_macs"], rel=1e-6)
        assert feats["ops"] > feats["module_calls"] > 0 and feats["written_melems"] > 0


def test_removing_a_block_removes_its_fixed_cost():
    pruner = _pruner("ostrack")
    full = pruner.space.uniform(1.0)
    shallow = {**full, "depth": 2}
    deep, thin = frame_features(pruner.family, pruner.child_arch(full)), frame_features(pruner.family, pruner.child_arch(shallow))
    assert thin["ops"] < deep["ops"] and thin["module_calls"] < deep["module_calls"]


def test_the_fit_recovers_a_known_cost_per_feature():
    pruner = _pruner("siamrpn")
    family = pruner.family
    rng = np.random.default_rng(3)
    archs = [pruner.child_arch(pruner.space.random(rng)) for _ in range(10)]
    truth = {"conv_gmacs": 20.0, "grouped_gmacs": 0.0, "matmul_gmacs": 0.0, "written_melems": 1.5, "ops": 0.004,
             "module_calls": 0.0, "one": 0.3}
    measured = [(a, sum(truth[k] * v for k, v in frame_features(family, a).items())) for a in archs]
    model = fit_latency_model(family, measured, runtime="torch", threads=1)
    assert model.fit_mape < 1e-6
    held_out = pruner.child_arch(pruner.space.random(rng))
    expected = sum(truth[k] * v for k, v in frame_features(family, held_out).items())
    assert model.predict(family, held_out) == pytest.approx(expected, rel=1e-6)
    assert all(c >= 0 for c in model.coef.values())
    again = LatencyModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again.predict(family, held_out) == pytest.approx(model.predict(family, held_out))


def test_too_few_measurements_is_one_clear_error():
    pruner = _pruner("siamrpn")
    with pytest.raises(ConfigError, match=f"at least {len(FEATURES)} measured children"):
        fit_latency_model(pruner.family, [(pruner.arch, 1.0)], runtime="torch", threads=1)


def test_the_run_fits_once_and_refits_for_another_runtime(tmp_path):
    from conftest import tiny_search_settings

    from autoprune.run.cost_metric import LATENCY_MODEL_FILE, run_latency_model

    pruner = _pruner("siamrpn")
    s = tiny_search_settings(tmp_path, budget_kind="ms", budget_value=1.0)
    first = run_latency_model(s, pruner)
    path = s.run_dir / LATENCY_MODEL_FILE
    stamp = path.stat().st_mtime_ns
    second = run_latency_model(s, pruner)  # read back: no child is timed again
    assert path.stat().st_mtime_ns == stamp and second.coef == first.coef
    assert json.loads(path.read_text())["runtime"] == "torch"
    path.write_text("{not json")  # a damaged file is refitted, not trusted
    assert run_latency_model(s, pruner).runtime == "torch" and json.loads(path.read_text())["threads"] == 1
    onnx = run_latency_model(s.with_options(runtime="onnx"), pruner)
    assert onnx.runtime == "onnx" and json.loads(path.read_text())["runtime"] == "onnx"


def test_onnx_latency_times_the_graph_an_export_holds(tmp_path):
    pruner = _pruner("siamrpn")
    child, _ = pruner.prune(pruner.space.uniform(0.5))
    path = tmp_path / "frame.onnx"
    write_frame_onnx(pruner.family, child, path)
    given = frame_latency(pruner.family, child, runtime="onnx", onnx_path=path, repeats=5, min_time=0.0)
    fresh = frame_latency(pruner.family, child, runtime="onnx", repeats=5, min_time=0.0)
    assert given.median_ms > 0 and fresh.median_ms > 0 and given.threads == 1


def test_an_unknown_runtime_is_refused(tmp_path):
    from conftest import tiny_search_settings

    with pytest.raises(ConfigError, match="unknown runtime 'tflite'"):
        tiny_search_settings(tmp_path, runtime="tflite").resolve(trackers.get("siamrpn"))


def _study_with(children: list[tuple[float, float]]) -> optuna.Study:
    """Completed trials with (share of the budget used, full-validation AO), validated as validation records them."""
    from autoprune.run.study import CONSTRAINTS_KEY
    from autoprune.validate.pareto import VALIDATION_KEY

    study = optuna.create_study(directions=["maximize", "minimize"])
    for number, (use, ao) in enumerate(children):
        study.add_trial(optuna.trial.create_trial(values=[ao, use], system_attrs={CONSTRAINTS_KEY: [use - 1.0]}))
        study.set_user_attr(f"{VALIDATION_KEY}:{number}", {"full_ao": ao})
    return study


def test_the_exported_child_uses_the_budget_when_a_validated_one_does():
    from autoprune.validate.pareto import best_trial

    study = _study_with([(0.5, 0.40), (0.95, 0.35), (1.2, 0.9)])
    assert best_trial(study) == 1  # the 50 % child scores higher, but the user asked for the budget
    assert best_trial(_study_with([(0.5, 0.40), (0.6, 0.30)])) == 0  # none at the budget: the best within it


def test_a_child_at_the_budget_is_validated_even_when_a_smaller_one_outscores_it():
    from autoprune.validate.pareto import select_for_validation

    study = _study_with([(0.4, 0.50), (0.7, 0.45), (0.95, 0.30), (0.92, 0.20), (1.1, 0.9)])
    # the 40 % child dominates every other feasible one: the front is one point
    assert [t.number for t in select_for_validation(study, 2)] == [0, 2]
    assert [t.number for t in select_for_validation(study, 1)] == [2]  # the one place goes to the budget
    assert [t.number for t in select_for_validation(study, None)] == [0, 2]
    assert [t.number for t in select_for_validation(_study_with([(0.5, 0.3), (0.96, 0.4)]), 1)] == [1]


def test_with_no_child_at_the_budget_the_nearest_one_is_validated():
    from autoprune.validate.pareto import select_for_validation

    # every child measured under 90 % of its budget; the 40 % one dominates the front
    study = _study_with([(0.4, 0.50), (0.7, 0.45), (0.89, 0.30), (0.6, 0.20), (1.1, 0.9)])
    assert [t.number for t in select_for_validation(study, 2)] == [0, 2]
    assert [t.number for t in select_for_validation(study, 1)] == [2]
    # already on the front: nothing is replaced
    assert [t.number for t in select_for_validation(_study_with([(0.4, 0.3), (0.85, 0.5)]), 2)] == [1, 0]


def test_the_projection_is_rescaled_by_what_the_children_measured():
    from autoprune.run.budget import Budget
    from autoprune.search.objective import Objective

    objective = Objective(family=None, pruner=None, space=None, budget=Budget("ms", 1.0), metric=None, proxy=None)
    study = optuna.create_study(directions=["maximize", "minimize"])
    assert objective._calibration(study.ask()) == 1.0  # nothing measured yet: the model as fitted
    for measured, predicted in ((1.1, 1.0), (2.2, 2.0), (0.5, 0.5), (9.0, 1.0)):
        study.add_trial(optuna.trial.create_trial(values=[0.1, measured],
                                                  user_attrs={"latency_ms": measured, "predicted_ms": predicted}))
    assert objective._calibration(study.ask()) == pytest.approx(1.1)  # the median: one odd timing does not count
    study.add_trial(optuna.trial.create_trial(values=[0.1, 1.0], user_attrs={"latency_ms": 9.0, "predicted_ms": 1.0}))
    study.add_trial(optuna.trial.create_trial(values=[0.1, 1.0], user_attrs={"latency_ms": 9.0, "predicted_ms": 1.0}))
    assert objective._calibration(study.ask()) == pytest.approx(1.3)  # clipped


class _MisjudgedRuntime:
    """A runtime whose children run ``factor`` times the model's figure plus a fixed part.

    Deterministic, so the test sees the re-cut logic and not timing noise. The fixed part
    (a per-frame overhead the model got wrong, as with ONNX Runtime's reshapes) is what a
    plain measured/predicted ratio cannot follow.
    """

    def __init__(self, family, factor: float, fixed_ms: float = 0.0):
        self.family, self.factor, self.fixed_ms = family, factor, fixed_ms

    def model_ms(self, arch: dict) -> float:
        return self.family.analytic_cost(arch)["frame_macs"] / 1e7

    def __call__(self, child, trial=None) -> float:
        return self.factor * self.model_ms(child.arch) + self.fixed_ms


# "overhead": a ratio step alone would need 5 re-cuts; the secant lands on the second
@pytest.mark.parametrize("factor, fixed_share, recuts", [(1.45, -0.2, 2), (0.3, 0.8, 2)], ids=["slower", "overhead"])
def test_a_child_the_model_misjudged_is_recut_into_the_window(factor, fixed_share, recuts):
    from autoprune.run.budget import Budget
    from autoprune.search.objective import LATENCY_CORRECTIONS, LATENCY_WINDOW, Objective

    pruner = _pruner("siamrpn")
    model_ms = _MisjudgedRuntime(pruner.family, 1.0).model_ms
    budget = 0.5 * model_ms(pruner.arch)
    runtime = _MisjudgedRuntime(pruner.family, factor, fixed_share * budget)
    objective = Objective(family=pruner.family, pruner=pruner, space=pruner.space, budget=Budget("ms", budget),
                          metric=model_ms, proxy=None, projection_steps=14, projection_margin=0.04)
    objective._latency = runtime
    trial = optuna.create_study(directions=["maximize", "minimize"]).ask()
    values = pruner.space.random(np.random.default_rng(0))  # knobs as a sampler draws them
    target = budget * 0.96
    projected, predicted = pruner.project(values, target, model_ms, iterations=14)
    child, arch = pruner.prune(projected)
    first = runtime(child)
    assert first > budget  # as the model cut it, the child would be infeasible
    *_, final_arch, latency = objective._correct(trial, values, budget, target, (projected, predicted, child, arch, first))
    low, high = LATENCY_WINDOW
    assert low * budget <= latency <= high * budget, latency / budget
    assert 1 <= trial.user_attrs["latency_corrections"] <= recuts <= LATENCY_CORRECTIONS and final_arch != arch
    # a child already in the window is left as it is
    trial = trial.study.ask()
    inside = objective._correct(trial, values, budget, target, (projected, predicted, child, arch, 0.95 * budget))
    assert inside[3] is arch and trial.user_attrs["latency_corrections"] == 0


def test_the_table_and_plot_show_a_child_validated_beside_the_front(tmp_path):
    from rich.console import Console

    from autoprune.validate.pareto import VALIDATION_KEY, pareto_table, plot_pareto

    # validated: the dominating 40 % child (front) and the 95 % one (not on the front, at the budget)
    study = optuna.create_study(directions=["maximize", "minimize"])
    from autoprune.run.study import CONSTRAINTS_KEY

    for use, proxy in ((0.4, 0.5), (0.95, 0.3), (0.7, 0.2)):
        study.add_trial(optuna.trial.create_trial(values=[proxy, use], system_attrs={CONSTRAINTS_KEY: [use - 1.0]}))
    for number, ao in ((0, 0.41), (1, 0.44)):
        study.set_user_attr(f"{VALIDATION_KEY}:{number}", {"full_ao": ao, "full_ao_ci": [ao - 0.05, ao + 0.05],
                                                           "full_sr50": 0.5, "full_sr75": 0.2})
    console = Console(record=True, width=200)
    console.print(pareto_table(study, unit="M FLOPs (MACs)"))
    rows = [line for line in console.export_text().splitlines() if "│" in line and "0." in line]
    assert [line.split("│")[1].strip() for line in rows] == ["0", "1 * +"]  # the unvalidated 70 % child stays out
    assert "0.440" in rows[1]
    assert plot_pareto(study, tmp_path / "pareto.png", unit="M FLOPs (MACs)", budget=1.0).stat().st_size > 0


def test_writing_the_onnx_graph_keeps_the_models_modes(tmp_path):
    """The exporter switches a traced wrapper's submodules back to training; the model must not follow."""
    from autoprune.cost.runtime import frame_inputs

    pruner = _pruner("siamrpn")
    child, _ = pruner.prune(pruner.space.uniform(0.5))
    child.eval()
    x, cache = frame_inputs(pruner.family, child)
    with torch.no_grad():
        before = child.track(cache, x)["cls"]
    write_frame_onnx(pruner.family, child, tmp_path / "eval.onnx")
    assert not any(m.training for m in child.modules())
    with torch.no_grad():  # BatchNorm still normalises with its running statistics
        assert torch.equal(child.track(cache, x)["cls"], before)
    child.train()
    child.rpn_head.eval()  # a mixed model keeps each flag as it was
    write_frame_onnx(pruner.family, child, tmp_path / "mixed.onnx")
    assert child.training and not child.rpn_head.training and child.backbone.training
