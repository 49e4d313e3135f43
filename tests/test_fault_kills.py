"""Processes killed at random (seeded) points, and many processes on one SQLite study.

A re-run of the same command reaches the requested trial count and keeps every finished
trial; workers sharing a storage never lose or duplicate a trial. Real subprocesses, real
SIGKILL, real SQLite.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

pytestmark = pytest.mark.slow
State = optuna.trial.TrialState
ROOT = Path(__file__).resolve().parents[1]
TINY = ["search", "--tracker", "siamrpn", "--preset", "tiny", "--budget-mflops", "25", "--proxy-steps", "1",
        "--proxy-sequences", "1", "--parent-steps", "4", "--validate-max", "0", "--sampler", "random"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _command(runs: Path, trials: int, workers: int = 1) -> list[str]:
    return [sys.executable, "-m", "autoprune.cli", *TINY, "--trials", str(trials), "--workers", str(workers),
            "--runs-dir", str(runs)]


def _study(runs: Path) -> optuna.Study:
    storage = optuna.storages.RDBStorage(f"sqlite:///{runs / 'siamrpn-25m' / 'study.db'}")
    return optuna.load_study(study_name="siamrpn-25m", storage=storage)


def _finished(study: optuna.Study) -> dict[int, tuple]:
    return {t.number: tuple(t.values) for t in study.get_trials(states=(State.COMPLETE,))}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_main_process_killed_at_a_random_point_resumes_to_the_count(tmp_path, seed):
    runs = tmp_path / "runs"
    first = subprocess.run(_command(runs, 1), cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]  # one finished trial to keep
    kept = _finished(_study(runs))
    delay = random.Random(seed).uniform(0.5, 12.0)  # start-up, parent, study, a trial or between trials
    proc = subprocess.Popen(_command(runs, 3), cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rerun = subprocess.run(_command(runs, 3), cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    study = _study(runs)
    after = _finished(study)
    assert all(after[n] == v for n, v in kept.items())  # nothing finished was lost or redone
    assert len(after) >= 3 and not study.get_trials(states=(State.RUNNING, State.WAITING))
    assert all(t.user_attrs["fail_reason"].startswith("WorkerDied") for t in study.get_trials(states=(State.FAIL,)))


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def test_a_killed_worker_process_is_recovered_and_the_search_reaches_the_count(tmp_path):
    runs = tmp_path / "runs"
    proc = subprocess.Popen(_command(runs, 4, workers=2), cwd=tmp_path, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        victim = None
        while victim is None and time.monotonic() < deadline:  # the spawned worker, once it runs a trial
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            db = runs / "siamrpn-25m" / "study.db"
            workers = set(_children(proc.pid))
            if db.is_file() and workers:
                try:
                    running = _study(runs).get_trials(states=(State.RUNNING,))
                except Exception:  # the study is being created
                    running = []
                victim = next((t.system_attrs["worker"]["pid"] for t in running
                               if t.system_attrs.get("worker", {}).get("pid") in workers), None)
            time.sleep(0.1)
        assert victim is not None, "no worker was seen running a trial"
        os.kill(victim, signal.SIGKILL)
        _, err = proc.communicate(timeout=600)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-2000:]
    study = _study(runs)
    assert len(_finished(study)) >= 4 and not study.get_trials(states=(State.RUNNING, State.WAITING))
    died = [t for t in study.get_trials(states=(State.FAIL,)) if t.user_attrs.get("fail_reason", "").startswith("WorkerDied")]
    assert len(died) == 1 and f"process {victim}" in died[0].user_attrs["fail_reason"]


def test_four_processes_on_one_sqlite_study_lose_and_duplicate_nothing(tmp_path):
    runs = tmp_path / "runs"
    procs = [subprocess.Popen(_command(runs, 6), cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outputs = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err[-1500:] for _, err in outputs]
    study = _study(runs)
    numbers = [t.number for t in study.trials]
    assert numbers == list(range(len(numbers)))  # every trial its own number
    # the README's bound: at most one trial per extra worker above --trials
    assert 6 <= len(_finished(study)) <= 6 + 3
    assert not study.get_trials(states=(State.RUNNING, State.WAITING, State.FAIL))


def test_a_search_over_a_deleted_study_database_starts_the_study_afresh(tmp_path):
    runs = tmp_path / "runs"
    assert subprocess.run(_command(runs, 1), cwd=tmp_path, env=ENV, capture_output=True, timeout=600).returncode == 0
    (runs / "siamrpn-25m" / "study.db").unlink()
    rerun = subprocess.run(_command(runs, 1), cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "0/1 trials done" in rerun.stderr.replace("\n", " ")
    assert len(_finished(_study(runs))) == 1
