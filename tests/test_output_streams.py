"""Results on stdout, progress and notes on stderr; one rule for which weights a command uses.

Every test runs the real CLI in a subprocess with stdout and stderr on separate pipes, as
`autoprune data info | grep val` or a job log would see them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SHIPPED_STARK = "trackers/stark/weights/tiny-builtin.safetensors"


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}  # as a pipe with no width set
    return subprocess.run([sys.executable, "-m", "autoprune.cli", *args], capture_output=True, text=True, timeout=timeout, env=env)


def ok(*args: str) -> subprocess.CompletedProcess:
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert "\x1b[" not in proc.stdout, "a pipe gets plain text, no terminal codes"
    return proc


def first_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.strip())


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """Two train and two val sequences of the built-in dataset, written by the CLI itself."""
    out = tmp_path_factory.mktemp("streams") / "data"
    proc = ok("data", "synth", "--train", "2", "--val", "2", "--test", "1", "--out", str(out))
    assert "wrote the built-in dataset" in proc.stdout and not proc.stderr.strip()
    return out


def test_data_info_table_is_on_stdout(tiny_data):
    proc = ok("data", "info", str(tiny_data))
    rows = [line for line in proc.stdout.splitlines() if " val " in line]
    assert len(rows) == 1 and rows[0].split("│")[2].strip() == "2", proc.stdout  # 2 val sequences
    assert not proc.stderr.strip()


def test_data_check_result_is_on_stdout(tiny_data):
    proc = ok("data", "check", str(tiny_data), "--split", "val")
    assert "ok" in proc.stdout and "2 sequences" in proc.stdout
    assert "ok:" not in proc.stderr and "checking" in proc.stderr  # the progress line


def test_evaluate_table_on_stdout_progress_on_stderr(tiny_data):
    proc = ok("evaluate", "--baseline", "static", "--max-sequences", "2", "--data", str(tiny_data))
    assert "static-box" in proc.stdout and "AO" in proc.stdout and "SR50" in proc.stdout
    assert "evaluating static-box" not in proc.stdout
    assert "…" not in proc.stdout, "no header or cell truncated to fit 80 columns"
    assert "evaluating static-box: " in proc.stderr and "(100 %)" in proc.stderr  # the progress's final status line
    assert "AO" not in proc.stderr


def test_evaluate_json_is_the_whole_of_stdout(tiny_data):
    proc = ok("evaluate", "--baseline", "static", "--max-sequences", "2", "--data", str(tiny_data), "--json")
    metrics = json.loads(proc.stdout)  # nothing else on stdout
    assert 0 <= metrics["ao"] <= 1 and {"sr50", "sr75", "auc", "precision", "fps"} <= set(metrics)
    assert "evaluating" in proc.stderr


def test_profile_table_on_stdout_and_says_its_weights_are_random_first():
    proc = ok("profile", "--tracker", "siamrpn", "--preset", "tiny", "--no-latency")
    assert "FLOPs (MACs)/frame" in proc.stdout and "siamrpn tiny" in proc.stdout
    note = first_line(proc.stderr)
    assert note.startswith("weights: random init of siamrpn/tiny") and "do not affect" in note
    assert "weights:" not in proc.stdout


def test_profile_json_on_stdout_is_parseable():
    proc = ok("profile", "--tracker", "siamrpn", "--preset", "tiny", "--no-latency", "--json")
    assert json.loads(proc.stdout)["frame_macs"] > 0
    assert first_line(proc.stderr).startswith("weights: ")


def test_profile_reads_the_family_from_a_weights_file():
    proc = ok("profile", "--weights", SHIPPED_STARK, "--no-latency")
    assert first_line(proc.stderr) == f"weights: {SHIPPED_STARK} (stark/tiny)"
    assert "stark tiny" in proc.stdout and "siamrpn" not in proc.stdout


def test_profile_reads_the_family_from_a_checkpoint_of_ours():
    proc = ok("profile", "--checkpoint", SHIPPED_STARK, "--no-latency", "--json")
    assert first_line(proc.stderr) == f"weights: stark/tiny from --checkpoint {SHIPPED_STARK}"
    import trackers

    assert json.loads(proc.stdout)["frame_macs"] == trackers.get("stark").analytic_cost(trackers.get("stark").arch("tiny"))["frame_macs"]


def test_a_weights_file_of_another_family_than_tracker_is_one_error_line():
    proc = run_cli("profile", "--tracker", "siamrpn", "--checkpoint", SHIPPED_STARK, "--no-latency")
    assert proc.returncode == 2 and not proc.stdout
    assert proc.stderr.strip().splitlines() == [f"error: --checkpoint {SHIPPED_STARK} holds a 'stark' model, not 'siamrpn'"]


def test_a_preset_without_shipped_weights_needs_weights_or_random_init(tiny_data):
    proc = run_cli("evaluate", "--tracker", "siamrpn", "--preset", "tiny", "--data", str(tiny_data))
    assert proc.returncode == 2 and not proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "siamrpn/tiny has no shipped demo weights" in lines[0]
    assert "--checkpoint" in lines[0] and "--weights" in lines[0] and "--random-init" in lines[0]


def test_random_init_is_explicit_and_said_first(tiny_data):
    proc = ok("evaluate", "--tracker", "siamrpn", "--preset", "tiny", "--random-init", "--data", str(tiny_data), "--json")
    assert first_line(proc.stderr) == "weights: random init of siamrpn/tiny (--random-init)"
    assert json.loads(proc.stdout)["ao"] >= 0
    clash = run_cli("evaluate", "--weights", SHIPPED_STARK, "--random-init", "--data", str(tiny_data))
    assert clash.returncode == 2 and "--random-init contradicts" in clash.stderr


def test_evaluate_scores_the_shipped_parent_well_above_the_static_box():
    sequences = ["--max-sequences", "8"]  # all of the built-in val split: fewer are too noisy to compare
    parent = ok("evaluate", "--tracker", "siamrpn", "--preset", "small", *sequences, "--json")
    static = ok("evaluate", "--baseline", "static", *sequences, "--json")
    note = first_line(parent.stderr)
    assert note.startswith("weights: siamrpn/small demo parent shipped with autoprune") and "val AO" in note
    parent_ao, static_ao = json.loads(parent.stdout)["ao"], json.loads(static.stdout)["ao"]
    assert parent_ao > 0.15 and parent_ao > 3 * static_ao, (parent_ao, static_ao)  # measured 0.228 and 0.037


def test_train_says_it_starts_from_random_weights_and_prints_its_result_on_stdout(tiny_data, tmp_path):
    out = tmp_path / "trained"
    proc = ok("train", "--tracker", "siamrpn", "--preset", "tiny", "--steps", "1", "--batch-size", "2",
              "--data", str(tiny_data), "--out", str(out), "--save-every", "0")
    assert first_line(proc.stderr).startswith("weights: random init of siamrpn/tiny (training from scratch")
    assert "trained siamrpn/tiny for 1 steps" in proc.stdout
    assert (out / "model.safetensors").is_file()


def test_train_reads_the_family_from_a_checkpoint_of_ours(tiny_data, tmp_path):
    out = tmp_path / "fine-tuned"
    proc = ok("train", "--checkpoint", SHIPPED_STARK, "--steps", "1", "--batch-size", "2",
              "--data", str(tiny_data), "--out", str(out), "--save-every", "0")
    assert first_line(proc.stderr) == f"weights: stark/tiny from --checkpoint {SHIPPED_STARK}"
    assert "trained stark/tiny" in proc.stdout


def test_prune_uses_the_shipped_parent_and_prints_its_summary_on_stdout(tiny_data, tmp_path):
    out = tmp_path / "child"
    proc = ok("prune", "--tracker", "siamrpn", "--preset", "small", "--keep", "0.5", "--finetune-steps", "0",
              "--data", str(tiny_data), "--out", str(out))
    assert first_line(proc.stderr).startswith("weights: siamrpn/small demo parent shipped with autoprune")
    assert "M FLOPs (MACs) per frame" in proc.stdout and str(out) in proc.stdout.replace("\n", "")
    assert (out / "arch.json").is_file()


def test_search_reads_the_family_and_preset_from_a_checkpoint_of_ours():
    from autoprune.cli import build_parser
    from autoprune.commands.search import _family_and_preset

    args = build_parser().parse_args(["search", "--checkpoint", SHIPPED_STARK, "--budget-mflops", "5"])
    assert _family_and_preset(args) == ("stark", "tiny")
    plain = build_parser().parse_args(["search", "--budget-mflops", "5"])
    assert _family_and_preset(plain) == ("siamrpn", None)


def test_search_without_tracker_or_checkpoint_takes_the_shared_default(monkeypatch):
    from autoprune.cli import build_parser
    from autoprune.commands import search

    monkeypatch.setattr(search, "DEFAULT_TRACKER", "stark")  # the one default every command shares
    plain = build_parser().parse_args(["search", "--budget-mflops", "5"])
    assert search._family_and_preset(plain) == ("stark", None)
