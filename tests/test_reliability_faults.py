"""Faults during a search: a killed worker, failing trials, most trials failing.

Real subprocesses, real SIGKILL, real SQLite storage, real pruning and fine-tunes at tiny scale.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import torch
from safetensors.torch import save_file

import trackers
from autoprune.cli import main
from autoprune.errors import AutoPruneError
from autoprune.search.objective import fail_reason
from autoprune.run.context import build_context
from autoprune.run.settings import SearchSettings
from autoprune.search.trials import open_study, optimize
from autoprune.run.study import REQUEUED_KEY, WORKER_KEY, finished
from tests.conftest import tiny_search_settings

State = optuna.trial.TrialState
TINY_SEARCH = ["--tracker", "siamrpn", "--preset", "tiny", "--budget-mflops", "25", "--proxy-steps", "1",
               "--proxy-sequences", "1", "--workers", "1", "--parent-steps", "4", "--validate-max", "0",
               "--sampler", "random"]


def settings(tmp_path: Path, **kw) -> SearchSettings:
    return tiny_search_settings(tmp_path, **{"sampler": "random", "command": "test", **kw})


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    """Parent, data and pruner, built once; each test runs its own study with its own settings."""
    torch.set_num_threads(1)
    return build_context(settings(tmp_path_factory.mktemp("ctx")), progress=False)


def start(context, tmp_path, **kw):
    s = settings(tmp_path, **kw)
    return dataclasses.replace(context, settings=s), open_study(s)


def _load(db: Path) -> optuna.Study:
    storage = optuna.storages.RDBStorage(f"sqlite:///{db}")
    return optuna.load_study(study_name=optuna.get_all_study_names(storage)[0], storage=storage)


def _wait_for_running_trial(db: Path, proc: subprocess.Popen, deadline: float) -> optuna.trial.FrozenTrial:
    """The first moment a trial is under way (claimed, knobs drawn) after at least one finished."""
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the search ended before it could be interrupted"
        if db.is_file():
            try:
                trials = _load(db).get_trials()
            except Exception:  # the study is still being created, or the file is locked for a moment
                trials = []
            done = [t for t in trials if t.state == State.COMPLETE]
            # every knob drawn: knobs are suggested one by one, so a trial seen early holds only some of them
            running = [t for t in trials if t.state == State.RUNNING and done and len(t.params) == len(done[0].params)
                       and t.system_attrs.get(WORKER_KEY, {}).get("pid") == proc.pid]
            if running:
                return running[0]
        time.sleep(0.05)
    raise AssertionError("no trial was seen running")


def test_kill_9_mid_trial_then_rerun_keeps_finished_trials_and_reaches_the_count(tmp_path):
    runs = tmp_path / "runs"
    command = [sys.executable, "-m", "autoprune.cli", "search", *TINY_SEARCH, "--trials", "2", "--runs-dir", str(runs)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    db = runs / "siamrpn-25m" / "study.db"
    with open(tmp_path / "first.log", "w") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=log, env=env, cwd=tmp_path)
        try:
            victim = _wait_for_running_trial(db, proc, time.monotonic() + 240)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = {t.number: t.values for t in _load(db).get_trials(states=(State.COMPLETE,))}
    assert before and _load(db).trials[victim.number].state == State.RUNNING

    rerun = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    study = _load(db)
    after = {t.number: t.values for t in study.get_trials(states=(State.COMPLETE,))}
    assert all(after[n] == v for n, v in before.items())  # nothing finished was lost or redone
    killed = study.trials[victim.number]
    assert killed.state == State.FAIL and killed.user_attrs["fail_reason"].startswith("WorkerDied")
    retry = [t for t in study.trials if t.user_attrs.get(REQUEUED_KEY) == victim.number]
    assert len(retry) == 1 and retry[0].state == State.COMPLETE
    assert victim.params.items() <= killed.params.items()  # the storage kept what the dead worker had drawn
    assert {k: retry[0].params[k] for k in killed.params} == killed.params  # ... and the retry re-ran exactly that
    assert finished(study) == 2 and not study.get_trials(states=(State.RUNNING, State.WAITING))


def test_failing_trials_are_recorded_with_their_reason_and_the_search_goes_on(context, tmp_path):
    ctx, study = start(context, tmp_path, trials=2)

    def fault(trial, step, loss):  # real failures raised inside the trial's fine-tune
        if trial.number == 0:
            raise ValueError("a knob value this child cannot take")
        if trial.number == 1:
            torch.empty(1 << 62, dtype=torch.uint8)  # a real allocation no machine can satisfy

    optimize(ctx, study, progress=False, on_step=fault)
    trials = study.trials
    assert [t.state for t in trials] == [State.FAIL, State.FAIL, State.COMPLETE, State.COMPLETE]
    assert trials[0].user_attrs["fail_reason"] == "ValueError: a knob value this child cannot take"
    assert trials[1].user_attrs["fail_reason"].startswith("OutOfMemory: RuntimeError: DefaultCPUAllocator: can't allocate")
    assert "fail_traceback" in trials[0].user_attrs and "fail_reason" not in trials[2].user_attrs


def test_python_memory_error_is_reported_as_out_of_memory():
    try:
        bytearray(1 << 62)
    except MemoryError as exc:
        reason = fail_reason(exc)
    assert reason.startswith("OutOfMemory: MemoryError") and "--workers" in reason


def test_trial_timeout_fails_every_trial_and_stops_with_a_summary(context, tmp_path):
    ctx, study = start(context, tmp_path, trials=4, trial_timeout=1e-6)
    with pytest.raises(AutoPruneError) as exc:
        optimize(ctx, study, progress=False)
    message = str(exc.value)
    assert "most trials failed (3 failed, 0 finished; reasons: 3x TrialTimeout)" in message
    assert "--trial-timeout" in message and "re-run the same command" in message and "\n" not in message
    assert [t.state for t in study.trials] == [State.FAIL] * 3
    assert all(t.user_attrs["fail_reason"].startswith("TrialTimeout: trial exceeded --trial-timeout") for t in study.trials)


def test_nan_loss_from_a_damaged_parent_fails_trials_and_the_cli_prints_one_summary_line(tmp_path, capsys):
    family = trackers.get("siamrpn")
    damaged = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
               for k, v in family.create("tiny").state_dict().items()}
    checkpoint = tmp_path / "damaged.safetensors"
    save_file({k: v.contiguous() for k, v in damaged.items()}, str(checkpoint))
    runs = tmp_path / "runs"
    code = main(["search", *TINY_SEARCH, "--trials", "2", "--checkpoint", str(checkpoint), "--runs-dir", str(runs)])
    err = capsys.readouterr().err
    assert code == 2
    line = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(line) == 1 and "3x NonFiniteLossError" in line[0] and "loss became nan" in line[0]
    study = _load(runs / "siamrpn-25m" / "study.db")
    assert [t.state for t in study.trials] == [State.FAIL] * 3
