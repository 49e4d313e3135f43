"""Two searches started at once on one study validate and export each child once between them."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_two_searches_on_one_study_share_validation_and_export(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    data = tmp_path / "data"  # 2 val sequences: a validation takes seconds
    subprocess.run([sys.executable, "-m", "autoprune.cli", "data", "synth", "--out", str(data), "--train", "2", "--val", "2",
                    "--test", "0"], check=True, capture_output=True, env=env)
    command = [sys.executable, "-m", "autoprune.cli", "search", "--tracker", "siamrpn", "--preset", "tiny",
               "--budget-mflops", "25", "--trials", "2", "--workers", "1", "--proxy-steps", "1", "--proxy-sequences", "1",
               "--parent-steps", "4", "--validate-steps", "2", "--validate-max", "2", "--sampler", "random",
               "--data", str(data)]
    procs = [subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outputs]
    validated = [line for _, err in outputs for line in err.splitlines() if line.startswith("validating trial ")]
    numbers = [line.split()[2] for line in validated]
    assert numbers and len(numbers) == len(set(numbers)), validated  # no child validated twice
    exported = [line for out, _ in outputs for line in out.splitlines() if line.startswith("exported the best child")]
    assert len(exported) == 1, [out for out, _ in outputs]
    assert sum("already exported" in out for out, _ in outputs) == 1
