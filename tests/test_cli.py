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


def test_bad_number_is_rejected_by_parser(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--steps", "-3"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--steps" in err and "positive whole number" in err


def test_data_synth_refuses_existing_output_and_writes_got10k_layout(tmp_path, capsys):
    out = tmp_path / "synth"
    assert main(["data", "synth", "--out", str(out), "--train", "1", "--val", "1", "--test", "0", "--seed", "3"]) == 0
    assert (out / "val" / "list.txt").is_file() and (out / "train" / "list.txt").is_file()
    capsys.readouterr()
    assert main(["data", "synth", "--out", str(out), "--train", "1", "--val", "1"]) == 2
    assert "--force" in capsys.readouterr().err


def test_data_check_names_the_bad_file_and_line(tmp_path, capsys):
    out = tmp_path / "synth"
    assert main(["data", "synth", "--out", str(out), "--train", "0", "--val", "1", "--test", "0"]) == 0
    seq = (out / "val" / "list.txt").read_text().split()[0]
    gt = out / "val" / seq / "groundtruth.txt"
    lines = gt.read_text().splitlines()
    lines[2] = "12,oops,3"
    gt.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["data", "check", str(out), "--split", "val"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "groundtruth.txt" in err and ":3" in err
    assert main(["data", "info", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err


def test_evaluate_static_baseline_json(tmp_path, capsys):
    out = tmp_path / "synth"
    assert main(["data", "synth", "--out", str(out), "--train", "0", "--val", "2", "--test", "0"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--baseline", "static", "--data", str(out), "--json"]) == 0
    import json

    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= metrics["ao"] <= 1 and set(metrics) >= {"ao", "sr50", "sr75", "auc", "precision", "fps"}


def test_train_with_weights_alone_takes_the_family_from_the_saved_model(tmp_path):
    shipped = "trackers/stark/weights/tiny-builtin.safetensors"
    out = tmp_path / "fine-tuned"
    assert main(["train", "--weights", shipped, "--steps", "1", "--batch-size", "2", "--out", str(out), "--save-every", "0"]) == 0
    from autoprune.models import load_saved

    family, model = load_saved(out)
    assert family.name == "stark" and model.arch["d_model"] == 64


def test_default_trial_count_follows_the_proxy():
    from autoprune.cli import build_parser
    from autoprune.commands.search import DEFAULT_TRIALS, settings_from_args

    def trials(*extra: str) -> int:
        args = build_parser().parse_args(["search", "--tracker", "siamrpn", "--budget-mflops", "50", *extra])
        return settings_from_args(args).trials

    assert trials() == DEFAULT_TRIALS["finetune"] == 12
    assert trials("--proxy", "oneshot") == DEFAULT_TRIALS["oneshot"] > 12
    assert trials("--proxy", "distill-loss") == DEFAULT_TRIALS["distill-loss"] > 12
    assert trials("--proxy", "oneshot", "--trials", "5") == 5
    assert build_parser().parse_args(["search", "--budget-mflops", "5", "--no-uniform-start"]).uniform_start is False
