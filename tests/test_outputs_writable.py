"""Every command checks where it will write before it starts: one line, exit 2, nothing written."""
from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import one_error_line, run_cli

SEARCH = ["search", "--tracker", "siamrpn", "--preset", "tiny", "--budget-mflops", "25", "--trials", "1",
          "--proxy-steps", "1", "--proxy-sequences", "1", "--parent-steps", "4", "--workers", "1", "--validate-max", "0"]


@pytest.fixture(scope="module")
def read_only(tmp_path_factory):
    """A folder on a read-only file system (a tmpfs mounted ro), or one without write permission."""
    folder = tmp_path_factory.mktemp("ro") / "mnt"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True).returncode == 0:
        yield folder, "Read-only file system"
        subprocess.run(["umount", str(folder)], check=False)
        return
    if os.geteuid() == 0:
        pytest.skip("cannot mount a read-only tmpfs here, and root writes through permissions")
    folder.chmod(0o555)
    yield folder, "Permission denied"
    folder.chmod(0o755)


def test_search_into_a_regular_file_is_one_line(tmp_path):
    runs = tmp_path / "runs"
    runs.write_text("not a folder")
    line = one_error_line(run_cli(tmp_path, *SEARCH, "--runs-dir", str(runs)))
    assert "--runs-dir" in line and "is a file, not a folder" in line
    assert runs.read_text() == "not a folder"


def test_search_on_a_read_only_file_system_is_one_line(tmp_path, read_only):
    folder, why = read_only
    line = one_error_line(run_cli(tmp_path, *SEARCH, "--runs-dir", str(folder / "runs")))
    assert "--runs-dir" in line and why in line
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("command", [
    ["train", "--tracker", "siamrpn", "--preset", "tiny", "--steps", "1", "--out", "{ro}/trained"],
    ["evaluate", "--baseline", "static", "--max-sequences", "1", "--out", "{ro}/results"],
    ["data", "synth", "--out", "{ro}/data", "--train", "1", "--val", "1", "--test", "0"],
], ids=["train", "evaluate", "data-synth"])
def test_other_commands_check_their_out(tmp_path, read_only, command):
    folder, why = read_only
    line = one_error_line(run_cli(tmp_path, *[part.format(ro=folder) for part in command]))
    assert "--out" in line and why in line


def test_export_to_a_read_only_out_is_one_line_before_any_work(tmp_path, read_only):
    folder, why = read_only
    assert run_cli(tmp_path, *SEARCH).returncode == 0
    line = one_error_line(run_cli(tmp_path, "export", "runs/siamrpn-25m", "--trial", "0", "--out", str(folder / "child")))
    assert "--out" in line and why in line
    assert not (tmp_path / "runs" / "siamrpn-25m" / "children").exists()  # no validation fine-tune ran
