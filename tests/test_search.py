"""The search end to end at tiny scale: real storage, real pruning, real fine-tunes and tracking."""
from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
import torch

from autoprune.errors import BudgetError, ConfigError
from autoprune.pipeline import search
from autoprune.run.settings import SearchSettings
from autoprune.run.study import feasible, finished, open_run


def settings(tmp_path: Path, **kw) -> SearchSettings:
    base = dict(tracker="siamrpn", preset="tiny", budget_kind="mflops", budget_value=25.0, trials=3, proxy_steps=2,
                proxy_sequences=1, parent_steps=4, validate_steps=2, validate_max=1, validate_sequences=4, runs_dir=str(tmp_path / "runs"),
                seed=0, command="autoprune search (test)")
    base.update(kw)
    return SearchSettings.from_options(**base)


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def test_search_validates_exports_and_resumes(tmp_path):
    s = settings(tmp_path)
    summary = search(s, progress=False)
    info = open_run(summary["run_dir"])
    study = info.study
    assert finished(study) == 3
    for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        for key in ("proxy_ao", "frame_mflops", "init_mflops", "params_m", "arch", "seed", "knobs", "loss"):
            assert key in t.user_attrs, key
        assert feasible(t) and t.values[1] <= 25.0
        assert 0.5 * t.user_attrs["target"] <= t.values[1] <= t.user_attrs["target"]  # projection fills its target
    assert (Path(summary["run_dir"]) / "pareto.png").stat().st_size > 1000
    export = Path(summary["export"])
    manifest = json.loads((export / "arch.json").read_text())
    assert manifest["cost"]["frame_macs"] <= 25e6 and "full_ao" in manifest["metrics"]
    from autoprune.validate.pareto import validations

    assert {v["sequences"] for v in validations(study).values()} == {4}  # --validate-sequences 4
    low, high = manifest["metrics"]["full_ao_ci"]
    assert low <= manifest["metrics"]["full_ao"] <= high
    assert "95 % CI" in (export / "card.md").read_text()
    # re-running the same command resumes to the requested count, never redoes trials
    s2 = settings(tmp_path, trials=4, validate_max=0)
    search(s2, progress=False)
    assert finished(open_run(summary["run_dir"]).study) == 4


@pytest.mark.parametrize("sampler", ["tpe", "nsga2", "random", "uniform"])
def test_each_sampler_runs_within_budget(tmp_path, sampler):
    s = settings(tmp_path, sampler=sampler, trials=2, validate_max=0, study_name=f"s-{sampler}")
    search(s, progress=False)
    study = open_run(Path(s.runs_dir) / f"s-{sampler}").study
    done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(done) == 2 and all(feasible(t) for t in done)
    if sampler == "uniform":
        assert all(set(t.params) == {"uniform_keep"} for t in done)


def test_same_seed_same_trials(tmp_path):
    a = settings(tmp_path / "a", sampler="random", trials=2, validate_max=0)
    b = settings(tmp_path / "b", sampler="random", trials=2, validate_max=0)
    search(a, progress=False)
    search(b, progress=False)
    ta = open_run(Path(a.runs_dir) / a.name).study.trials
    tb = open_run(Path(b.runs_dir) / b.name).study.trials
    assert [t.params for t in ta] == [t.params for t in tb]
    assert [t.user_attrs["arch"] for t in ta] == [t.user_attrs["arch"] for t in tb]


def test_budget_above_parent_or_below_smallest_child_is_refused(tmp_path):
    with pytest.raises(BudgetError, match="not below the parent's 51.0"):
        search(settings(tmp_path, budget_value=60.0), progress=False)
    with pytest.raises(BudgetError, match="below the smallest child"):
        search(settings(tmp_path, budget_value=0.01), progress=False)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("study.db"))


def test_unknown_sampler_and_tracker(tmp_path):
    with pytest.raises(ConfigError, match="valid samplers"):
        search(settings(tmp_path, sampler="annealing"), progress=False)
    with pytest.raises(ConfigError, match="valid trackers"):
        search(settings(tmp_path, tracker="kcf"), progress=False)


def test_validation_shared_among_workers_records_what_one_process_would(tmp_path):
    from autoprune.validate import validate_run
    from autoprune.validate.pareto import validations

    summary = search(settings(tmp_path, trials=3, validate_max=0), progress=False)
    run = summary["run_dir"]
    numbers = [t.number for t in open_run(run).study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))][:2]
    validate_run(run, trials=numbers, steps=2, workers=2, progress=False)
    shared = validations(open_run(run).study)
    validate_run(run, trials=numbers, steps=2, workers=1, progress=False)
    alone = validations(open_run(run).study)
    assert sorted(shared) == sorted(alone) == sorted(numbers)
    assert all(shared[n]["full_ao"] == alone[n]["full_ao"] for n in numbers)
    validate_run(run, trials=numbers, steps=3, workers=2, progress=False)  # earlier results never count as this run's
    assert all(v["steps"] == 3 for v in validations(open_run(run).study).values())


@pytest.mark.parametrize("tracker, steps", [("stark", 1000), ("siamrpn", 300)])
def test_validation_steps_default_to_the_family_s(tmp_path, tracker, steps):
    from autoprune.run.context import build_context

    s = settings(tmp_path, tracker=tracker, validate_steps=None, preset=None)
    ctx = build_context(s, progress=False)
    assert ctx.settings.validation.steps == steps  # written to run.json as resolved, so validate/export reuse it
    assert s.validation.steps is None  # resolved into a new object: the given settings stay as they were
