"""The last status line of a search counts every trial, other processes' last ones too."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from autoprune.run.study import finished

BASE = ["-m", "autoprune.cli", "search", "--tracker", "siamrpn", "--preset", "tiny", "--budget-mflops", "25", "--trials", "2",
        "--workers", "1", "--proxy-sequences", "1", "--parent-steps", "4", "--validate-max", "0", "--sampler", "random"]


@pytest.mark.slow
def test_the_final_progress_line_counts_a_trial_another_process_finishes_last(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    # a second search on the same study with a slow trial: still running when the first one's own trial is done
    slow = subprocess.Popen([sys.executable, *BASE, "--proxy-steps", "80"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # stderr is a pipe: the bar prints plain status lines, the last one when the search phase ends
        done = subprocess.run([sys.executable, *BASE, "--proxy-steps", "2"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
    finally:
        slow.wait(timeout=600)
    assert done.returncode == 0 and slow.returncode == 0, done.stderr[-2000:]
    study = optuna.load_study(study_name="siamrpn-25m", storage=f"sqlite:///{tmp_path / 'runs' / 'siamrpn-25m' / 'study.db'}")
    assert finished(study) >= 2, [(t.number, t.state.name, t.user_attrs.get("fail_reason")) for t in study.trials]
    counts = re.findall(r"search siamrpn-25m: (\d+)/2", done.stderr)
    assert counts and counts[-1] == "2", done.stderr[-2000:]
