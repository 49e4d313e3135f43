"""The dashboard binds 127.0.0.1 unless told otherwise: checked on the real listening socket."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from autoprune.run.study import DIRECTIONS

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp to see listening sockets")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening_addresses(port: int) -> set[str]:
    """Local IPv4 addresses (hex, as the kernel shows them) listening on ``port``."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            found.add(address)
    return found


@pytest.fixture
def run_dir(tmp_path):
    """A run directory as `autoprune search` leaves it: run.json and a study in study.db."""
    run = tmp_path / "runs" / "bind-test"
    run.mkdir(parents=True)
    optuna.create_study(study_name="bind-test", storage=f"sqlite:///{run / 'study.db'}", directions=list(DIRECTIONS))
    (run / "run.json").write_text(json.dumps({"study_name": "bind-test", "tracker": "siamrpn", "budget_kind": "mflops",
                                              "budget_value": 50.0}))
    return run


def _serve_and_look(run_dir: Path, *host_args: str) -> set[str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "autoprune.cli", "dashboard", str(run_dir), "--port", str(port), *host_args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not _listening_addresses(port):
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the dashboard never listened"
            time.sleep(0.1)
        return _listening_addresses(port)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_dashboard_listens_on_loopback_only_by_default(run_dir):
    assert _serve_and_look(run_dir) == {"0100007F"}  # 127.0.0.1


def test_dashboard_listens_on_all_interfaces_only_when_told(run_dir):
    assert _serve_and_look(run_dir, "--host", "0.0.0.0") == {"00000000"}
