"""The command line: help for every subcommand, one-line errors, non-zero exits."""
from __future__ import annotations

import subprocess
import sys

import pytest

from autoprune.cli import SUBCOMMANDS, main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autoprune.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    assert "usage: autoprune" in capsys.readouterr().out


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_unknown_tracker_is_one_line_error_without_traceback():
    proc = run_cli("evaluate", "--tracker", "nosuch")
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "unknown tracker 'nosuch'" in lines[0] and "siamrpn" in lines[0]
    assert "Traceback" not in proc.stderr


def test_debug_shows_traceback():
    proc = run_cli("--debug", "evaluate", "--tracker", "nosuch")
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


def test_bad_number_is_rejected_by_parser():
    proc = run_cli("train", "--steps", "-3")
    assert proc.returncode == 2
    assert "--steps" in proc.stderr and "positive whole number" in proc.stderr


def test_data_synth_refuses_existing_output_and_writes_got10k_layout(tmp_path):
    out = tmp_path / "synth"
    proc = run_cli("data", "synth", "--out", str(out), "--train", "1", "--val", "1", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    assert (out / "val" / "list.txt").is_file() and (out / "train" / "list.txt").is_file()
    again = run_cli("data", "synth", "--out", str(out), "--train", "1", "--val", "1")
    assert again.returncode == 2 and "--force" in again.stderr


def test_data_check_names_the_bad_file_and_line(tmp_path):
    out = tmp_path / "synth"
    assert run_cli("data", "synth", "--out", str(out), "--train", "0", "--val", "1").returncode == 0
    seq = (out / "val" / "list.txt").read_text().split()[0]
    gt = out / "val" / seq / "groundtruth.txt"
    lines = gt.read_text().splitlines()
    lines[2] = "12,oops,3"
    gt.write_text("\n".join(lines) + "\n")
    proc = run_cli("data", "check", str(out), "--split", "val")
    assert proc.returncode == 2
    assert "groundtruth.txt" in proc.stderr and ":3" in proc.stderr
    missing = run_cli("data", "info", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "nope" in missing.stderr


def test_evaluate_static_baseline_json(tmp_path):
    out = tmp_path / "synth"
    assert run_cli("data", "synth", "--out", str(out), "--train", "0", "--val", "2").returncode == 0
    proc = run_cli("evaluate", "--baseline", "static", "--data", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    import json

    metrics = json.loads(proc.stdout.strip().splitlines()[-1])
    assert 0 <= metrics["ao"] <= 1 and set(metrics) >= {"ao", "sr50", "sr75", "auc", "precision", "fps"}
