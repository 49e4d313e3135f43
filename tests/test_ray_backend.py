"""`autoprune search --backend ray` as a user types it: default (relative) --runs-dir, real Ray, tiny trials."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from autoprune.run.study import pareto

pytest.importorskip("ray")

TINY = ["--tracker", "siamrpn", "--preset", "tiny", "--budget-mflops", "25", "--proxy-sequences", "1",
        "--parent-steps", "4", "--validate-max", "0", "--backend", "ray", "--workers", "2"]


def _search(cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    # run where a user would: cwd is the project directory, runs/ is relative to it
    return subprocess.run([sys.executable, "-m", "autoprune.cli", "search", *TINY, *extra], cwd=cwd,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(Path.cwd())})


def _study(cwd: Path) -> optuna.Study:
    return optuna.load_study(study_name="siamrpn-25m", storage=f"sqlite:///{cwd / 'runs' / 'siamrpn-25m' / 'study.db'}")


@pytest.mark.slow
def test_ray_with_the_default_runs_dir_keeps_every_trial_in_the_one_study(tmp_path):
    done = _search(tmp_path, "--trials", "4", "--proxy-steps", "6")
    assert done.returncode == 0, done.stderr[-3000:]
    study = _study(tmp_path)
    states = [t.state for t in study.trials]
    assert len(states) >= 4 and optuna.trial.TrialState.RUNNING not in states
    assert optuna.trial.TrialState.COMPLETE in states
    stopped = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert all(t.user_attrs.get("stopped_by") == "asha" and not t.values for t in stopped)
    front = pareto(study)
    assert front and all(t.state == optuna.trial.TrialState.COMPLETE for t in front)
    assert not {t.number for t in front} & {t.number for t in stopped}
    knobs = [json.dumps(t.params, sort_keys=True) for t in study.trials]
    assert len(set(knobs)) == len(knobs)  # every Ray trial drew its own configuration
    meta = json.loads((tmp_path / "runs" / "siamrpn-25m" / "run.json").read_text())
    assert Path(meta["runs_dir"]).is_absolute() and Path(meta["runs_dir"]) == (tmp_path / "runs").resolve()
    assert "Configuration for experiment" not in done.stdout  # stdout holds our results only


@pytest.mark.slow
def test_ray_run_with_no_completed_trial_fails_in_one_line(tmp_path):
    done = _search(tmp_path, "--trials", "2", "--proxy-steps", "4", "--trial-timeout", "0.001")
    assert done.returncode == 2, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no completed trial" in errors[0] and "TrialTimeout" in errors[0], done.stderr[-3000:]
    assert "Traceback" not in done.stderr
