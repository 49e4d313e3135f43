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
