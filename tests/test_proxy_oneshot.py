"""The one-shot proxy: a supernet trained on shared weights, children cut from it and scored."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
import torch

import trackers
from autoprune.proxy.oneshot import (OneShotScorer, OneShotSettings, SupernetSettings, _GradientRouter, load_supernet,
                                     save_supernet, train_supernet)
from autoprune.pipeline import search
from autoprune.run.settings import SearchSettings
from autoprune.search.supernet import supernet_file
from autoprune.run.study import finished, open_run
from conftest import tiny_siamrpn_pruner


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny():
    return tiny_siamrpn_pruner()


def _draw(pruner):
    return lambda rng: pruner.space.random(rng)


def test_a_child_s_gradients_land_on_the_supernet_entries_it_was_cut_from(tiny):
    family, pruner, _, _ = tiny
    values = pruner.space.random(np.random.default_rng(3))
    child, _ = pruner.prune(values)
    for p in child.parameters():
        p.grad = p.detach().clone()  # a "gradient" equal to the weights: it must land where they came from
    router = _GradientRouter(pruner, pruner.parent)
    flat = torch.zeros(router.size)
    router.add_child_gradients(values, child, flat)
    assert int((flat != 0).sum()) == int(sum((p != 0).sum() for p in child.parameters()))
    start = 0
    for name, p in router.params.items():
        part = flat[start:start + p.numel()].view_as(p)
        covered = part != 0
        assert torch.equal(part[covered], p.detach()[covered]), name  # each entry went to its own position
        start += p.numel()


def test_supernet_training_updates_shared_weights_and_scores_repeat(tiny, tmp_path):
    family, pruner, train, val = tiny
    supernet, summary = train_supernet(family, pruner, train, draw_child=_draw(pruner), progress=False,
                                       settings=SupernetSettings(steps=2, random_children=1))
    assert summary["steps"] == 2 and np.isfinite(summary["smallest_loss_last"])
    parent_state, shared = pruner.parent.state_dict(), supernet.state_dict()
    assert any(not torch.equal(parent_state[k], shared[k]) for k in parent_state if parent_state[k].is_floating_point())
    path = tmp_path / "supernet.safetensors"
    save_supernet(family, supernet, path)
    again = load_supernet(pruner.parent, path)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in shared.items())
    scorer = OneShotScorer(family, pruner, again, train_sequences=train, val_sequences=val,
                           settings=OneShotSettings(held_out_batches=2, bn_batches=2, sequences=1))
    values = pruner.space.random(np.random.default_rng(5))
    first = scorer.scores(values, which=("loss", "distill", "ao"))
    assert first == scorer.scores(values, which=("loss", "distill", "ao"))  # fixed data: no noise of its own
    assert first["loss"] < 0 and first["distill"] < 0 and 0 <= first["ao"] <= 1
    # cut from the parent itself, without recalibration, the whole child is the parent: no distillation error
    itself = OneShotScorer(family, pruner, pruner.parent, train_sequences=train, val_sequences=val,
                           settings=OneShotSettings(held_out_batches=2, bn_batches=0))
    assert itself.scores(pruner.space.full(), which=("distill",))["distill"] == pytest.approx(0.0, abs=1e-6)
    assert itself.scores(values, which=("distill",))["distill"] < -1e-3


@pytest.mark.slow
def test_search_with_the_oneshot_proxy_trains_the_supernet_once(tmp_path):
    s = SearchSettings.from_options(tracker="siamrpn", preset="tiny", budget_kind="mflops", budget_value=25.0, trials=3, proxy_steps=2,
                                    proxy_sequences=1, parent_steps=4, validate_steps=2, validate_max=1, runs_dir=str(tmp_path / "runs"),
                                    proxy="oneshot", supernet_steps=2, sampler="random", command="autoprune search (test)")
    summary = search(s, progress=False)
    path = supernet_file(Path(summary["run_dir"]))
    assert path.is_file() and (path.parent / "summary.json").is_file()
    study = open_run(summary["run_dir"]).study
    done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(done) == 3
    for t in done:
        assert t.user_attrs["proxy"] == "oneshot loss"
        assert t.values[0] == t.user_attrs["oneshot_loss"] < 0
    assert Path(summary["export"]).is_dir()
    written = path.stat().st_mtime_ns
    search(s.with_options(trials=4, validate_max=0), progress=False)  # resume: no retraining
    assert path.stat().st_mtime_ns == written and finished(open_run(summary["run_dir"]).study) == 4


def test_the_oneshot_score_defaults_to_the_family_s_and_can_be_chosen():
    def score(tracker, **extra):
        s = SearchSettings.from_options(tracker=tracker, budget_kind="mflops", budget_value=5.0, proxy="oneshot", **extra)
        return s.resolve(trackers.get(tracker)).proxy.oneshot_score

    assert score("siamrpn") == trackers.get("siamrpn").oneshot_score == "loss"
    assert score("ostrack") == trackers.get("ostrack").oneshot_score == "distill"  # what ranks its children best
    assert score("ostrack", oneshot_score="loss") == "loss"
