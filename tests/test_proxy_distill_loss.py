"""The distill-loss proxy: a short fine-tune, then the loss on fixed held-out val pairs, no tracking."""
from __future__ import annotations

import copy

import numpy as np
import optuna
import pytest
import torch

from autoprune.pipeline import search
from autoprune.proxy import ProxySettings, finetune_child
from autoprune.proxy.oneshot import HeldOutPairs
from autoprune.run.settings import SearchSettings
from autoprune.run.study import open_run
from conftest import tiny_siamrpn_pruner


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def test_held_out_scores_repeat_and_see_what_a_fine_tune_changed():
    family, pruner, train, val = tiny_siamrpn_pruner()
    parent = pruner.parent
    held_out = HeldOutPairs(family, parent, val, batches=2, batch_size=4)
    itself = held_out.scores(copy.deepcopy(parent))
    assert itself["distill"] == pytest.approx(0.0, abs=1e-6) and itself["loss"] < 0
    child, _ = pruner.prune(pruner.space.random(np.random.default_rng(1)))
    before = held_out.scores(child)
    assert before == held_out.scores(child)  # the same pairs every time: no noise of its own
    assert before["distill"] < -1e-4  # a pruned child no longer gives the parent's outputs
    finetune_child(family, child, train_sequences=train, settings=ProxySettings(steps=3, batch_size=4, lr=1e-2), parent=parent)
    after = held_out.scores(child)
    assert after != before and np.isfinite(after["loss"])


def test_search_with_the_distill_loss_proxy_scores_by_held_out_loss(tmp_path):
    s = SearchSettings.from_options(tracker="siamrpn", preset="tiny", budget_kind="mflops", budget_value=25.0, trials=2,
                                    proxy_steps=2, proxy_sequences=1, parent_steps=4, validate_max=0, export=False,
                                    runs_dir=str(tmp_path / "runs"), proxy="distill-loss", sampler="random",
                                    command="autoprune search (test)")
    summary = search(s, progress=False)
    done = open_run(summary["run_dir"]).study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(done) == 2
    for t in done:
        assert t.user_attrs["proxy"] == "distill-loss"
        assert t.values[0] == -t.user_attrs["held_out_loss"] < 0
        assert t.user_attrs["held_out_distill"] > 0 and "proxy_ao" not in t.user_attrs  # no tracking
        assert t.user_attrs["loss"]  # the fine-tune ran
