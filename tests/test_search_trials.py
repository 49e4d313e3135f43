"""What each trial of a search spends its budget on: distinct children, spread over cost."""
from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
import torch

from autoprune.pipeline import search
from autoprune.run.settings import SearchSettings
from autoprune.search.samplers import worker_seed
from autoprune.run.context import build_context
from autoprune.search.trials import FILLS_BUDGET_KEY, UNIFORM_START_KEY, fill_budget_first
from autoprune.run.study import finished, open_run, pareto
from tests.conftest import tiny_search_settings

DONE = (optuna.trial.TrialState.COMPLETE,)


def settings(tmp_path: Path, **kw) -> SearchSettings:
    return tiny_search_settings(tmp_path, **{"trials": 4, "seed": 0, **kw})


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def test_worker_seeds_differ_by_worker_and_resume_point_and_repeat():
    seeds = {worker_seed(3, w, start) for w in range(4) for start in (0, 5)}
    assert len(seeds) == 8
    assert worker_seed(3, 0, 0) == 3  # one fresh process: the seed as given
    assert worker_seed(3, 1, 5) == worker_seed(3, 1, 5)


@pytest.mark.slow
def test_two_workers_evaluate_distinct_children(tmp_path):
    s = settings(tmp_path, trials=8, workers=2, sampler="tpe")
    search(s, progress=False)
    study = open_run(s.run_dir).study
    done = study.get_trials(states=DONE)
    assert len(done) >= 8
    archs = [t.user_attrs["arch"] for t in done]
    assert len(set(archs)) == len(archs)
    assert sum("resampled_from" in t.user_attrs for t in done) <= 1  # the workers' own seeds did it, not the backstop
    # a resumed run continues with new draws instead of replaying the first ones
    search(settings(tmp_path, trials=12, workers=2, sampler="tpe"), progress=False)
    archs = [t.user_attrs["arch"] for t in open_run(s.run_dir).study.get_trials(states=DONE)]
    assert len(archs) >= 12 and len(set(archs)) == len(archs)


def test_repeated_configuration_is_resampled(tmp_path):
    s = settings(tmp_path, trials=1, sampler="random", study_name="twice")
    search(s, progress=False)
    study = open_run(s.run_dir).study
    first = study.trials[0]
    study.enqueue_trial(first.params)  # the same knobs again: the same child
    search(settings(tmp_path, trials=2, sampler="random", study_name="twice"), progress=False)
    second = open_run(s.run_dir).study.trials[1]
    assert second.params == first.params
    assert second.user_attrs["resampled_from"] == first.number
    assert second.user_attrs["arch"] != first.user_attrs["arch"]


def test_children_spread_over_the_cost_below_the_budget(tmp_path):
    s = settings(tmp_path, trials=6, sampler="random", proxy_steps=2)
    search(s, progress=False)
    study = open_run(s.run_dir).study
    done = study.get_trials(states=DONE)
    assert finished(study) == 6
    for t in done:
        assert 0.3 <= t.params["budget_share"] <= 1.0 + 0.7 / 3  # past 1: the whole budget
        assert t.user_attrs["target"] == pytest.approx(min(1.0, t.params["budget_share"]) * 25.0)
        assert t.values[1] <= t.user_attrs["target"] * 1.0001
    costs = [t.user_attrs["frame_mflops"] for t in done]
    assert min(costs) / max(costs) < 0.8
    # the front keeps the cheapest child whatever the proxy scores were, so it reaches down the
    # cost range (how far up it reaches depends on which child scored best: chance at 2 steps)
    front = pareto(study)
    assert min(t.user_attrs["frame_mflops"] for t in front) == min(costs), json.dumps([t.values for t in done])
    best = max(done, key=lambda t: t.values[0])
    assert best.number in {t.number for t in front} and (len(front) >= 2 or best.user_attrs["frame_mflops"] == min(costs))


def test_first_trial_fills_the_budget_so_a_short_search_can_export_at_it(tmp_path):
    # two trials: with sampled shares alone, three times in four neither fills the budget
    s = settings(tmp_path, trials=2, sampler="tpe", workers=1, proxy_steps=1)
    search(s, progress=False)
    study = open_run(s.run_dir).study
    first = study.trials[0]
    assert first.params["budget_share"] == 1.0 and first.user_attrs[FILLS_BUDGET_KEY]
    assert 0.9 * 25.0 <= first.user_attrs["frame_mflops"] <= 25.0
    assert "budget_share" in study.trials[1].params and FILLS_BUDGET_KEY not in study.trials[1].user_attrs
    # a resumed study is not seeded again, and the uniform baseline samples no share at all
    assert not fill_budget_first(study, s)
    uniform = settings(tmp_path, sampler="uniform", study_name="uniform")
    assert not fill_budget_first(optuna.create_study(directions=["maximize", "minimize"]), uniform)


def test_the_search_starts_from_the_uniform_child_at_the_whole_budget(tmp_path):
    s = settings(tmp_path, trials=2, sampler="tpe", workers=1, proxy_steps=1)
    search(s, progress=False)
    study = open_run(s.run_dir).study
    first, second = study.trials[0], study.trials[1]
    assert first.user_attrs[UNIFORM_START_KEY] and first.user_attrs[FILLS_BUDGET_KEY]
    assert UNIFORM_START_KEY not in second.user_attrs
    # the same child the uniform baseline makes at this budget: every width scaled by one factor
    ctx = build_context(s, progress=False)
    space = ctx.pruner.space
    uniform, _ = ctx.pruner.project(space.uniform(1.0), s.budget.value, ctx.metric)
    assert json.loads(first.user_attrs["arch"]) == ctx.pruner.prune(uniform)[1]
    widths = {round(v, 6) for k, v in first.user_attrs["knobs"].items() if next(n for n in space.knobs if n.name == k).is_width}
    assert len(widths) == 1, widths
    # --no-uniform-start: the sampler picks the first trial's knobs as well
    off = settings(tmp_path, trials=1, sampler="tpe", workers=1, proxy_steps=1, uniform_start=False, study_name="off")
    search(off, progress=False)
    assert UNIFORM_START_KEY not in open_run(off.run_dir).study.trials[0].user_attrs
