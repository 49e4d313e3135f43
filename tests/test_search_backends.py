"""Latency budgets, several local workers, and the Ray Tune backend with 2 workers."""
from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import torch

from autoprune.pipeline import search
from autoprune.run.settings import SearchSettings
from autoprune.run.study import feasible, finished, open_run


def settings(tmp_path: Path, **kw) -> SearchSettings:
    base = dict(tracker="siamrpn", preset="tiny", budget_kind="mflops", budget_value=25.0, trials=2, proxy_steps=2,
                proxy_sequences=1, parent_steps=4, validate_max=0, runs_dir=str(tmp_path / "runs"), command="test")
    base.update(kw)
    return SearchSettings.from_options(**base)


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def test_latency_budget_uses_measured_latency(tmp_path):
    import trackers
    from autoprune.prune.pruner import Pruner
    from autoprune.prune.space import load_space
    from autoprune.run.cost_metric import fit_for_pruner

    family = trackers.get("siamrpn")
    pruner = Pruner(family.create("tiny").eval(), load_space("siamrpn"))
    metric = fit_for_pruner(pruner).metric(family)
    parent_ms = metric(pruner.arch)
    smallest_ms = metric(pruner.child_arch(pruner.space.smallest()))
    # Nearer the smallest child than the parent: timings on a shared machine wander by
    # tens of percent between the two fits (this one and the search's own).
    budget = round(smallest_ms + 0.3 * (parent_ms - smallest_ms), 3)
    s = settings(tmp_path, budget_kind="ms", budget_value=budget, sampler="random")
    search(s, progress=False)
    study = open_run(s.run_dir).study
    done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(done) == 2
    for t in done:
        assert t.values[1] == pytest.approx(t.user_attrs["latency_ms"])
        assert feasible(t) == (t.user_attrs["latency_ms"] <= s.budget.value)
        assert t.user_attrs["latency_on"] == "torch, 1 thread"
    assert (s.run_dir / "latency_model.json").is_file()  # fitted once; workers and later commands read it


@pytest.mark.slow
def test_two_local_workers_share_one_study(tmp_path):
    s = settings(tmp_path, trials=4, workers=2, sampler="random")
    search(s, progress=False)
    study = open_run(s.run_dir).study
    numbers = [t.number for t in study.trials]
    assert len(set(numbers)) == len(numbers)
    assert finished(study) >= 4


@pytest.mark.slow
def test_ray_backend_with_two_workers(tmp_path):
    pytest.importorskip("ray")
    s = settings(tmp_path, trials=3, workers=2, backend="ray", proxy_steps=4, sampler="tpe")
    search(s, progress=False)
    study = open_run(s.run_dir).study
    states = [t.state for t in study.trials]
    assert finished(study) >= 3
    assert optuna.trial.TrialState.RUNNING not in states
    assert all(t.user_attrs.get("backend") == "ray" for t in study.trials)
