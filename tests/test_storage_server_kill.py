"""The PostgreSQL server of a search stopped at a seeded random point, then started again.

A throwaway cluster of its own (so no other test's server is touched) is stopped in
immediate mode, as a crash is: every connection cut, no checkpoint, crash recovery at the
next start. The search stops with one `error:` line naming the storage and how to resume,
exit status 2; re-running the same command once the server is back reaches `--trials`,
keeps every finished trial, recovers the trials in flight, and leaves a whole export. Real
subprocesses, a real server, real cut connections.
"""
from __future__ import annotations

import importlib.util
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest

from autoprune.run.study import REQUEUED_KEY, with_installed_driver

pytestmark = pytest.mark.slow
State = optuna.trial.TrialState
ROOT = Path(__file__).resolve().parents[1]
TRIALS = 3
WORKERS = 2
STUDY = "siamrpn-25m"
SEARCH = ["search", "--tracker", "siamrpn", "--preset", "tiny", "--budget-mflops", "25", "--proxy-steps", "1",
          "--proxy-sequences", "1", "--parent-steps", "4", "--sampler", "random", "--trials", str(TRIALS),
          "--workers", str(WORKERS), "--validate-max", "1", "--validate-steps", "2"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


class Cluster:
    """A PostgreSQL cluster made for one test through Debian's cluster tools, dropped after it."""

    def __init__(self, version: str, name: str, port: int):
        self.version, self.name, self.port = version, name, port
        self.password = uuid.uuid4().hex
        self.url = f"postgresql://autoprune:{self.password}@127.0.0.1:{port}/autoprune_kill"

    def ctl(self, *args: str) -> None:
        subprocess.run(["pg_ctlcluster", self.version, self.name, *args], check=True, capture_output=True, timeout=120)

    def psql(self, sql: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-p", str(self.port), "-v", "ON_ERROR_STOP=1", "-tAc", sql],
                       check=True, capture_output=True, timeout=60)

    def wait_ready(self) -> None:
        for _ in range(120):
            if subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)]).returncode == 0:
                return
            time.sleep(0.5)
        raise AssertionError(f"the PostgreSQL cluster {self.version}/{self.name} did not come back")

    def study(self) -> optuna.Study:
        storage = optuna.storages.RDBStorage(with_installed_driver(self.url))
        return optuna.load_study(study_name=STUDY, storage=storage)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster():
    tools = [t for t in ("pg_createcluster", "pg_ctlcluster", "pg_dropcluster", "pg_isready", "runuser") if not shutil.which(t)]
    if os.geteuid() != 0 or tools or not Path("/usr/lib/postgresql").is_dir():
        pytest.skip("stopping and starting a PostgreSQL server needs root and Debian's postgresql "
                    f"(pg_createcluster, pg_ctlcluster){'; missing: ' + ', '.join(tools) if tools else ''}; "
                    "run `bash .ci/postgres` as root to install it")
    if not any(importlib.util.find_spec(m) for m in ("psycopg", "psycopg2")):
        pytest.skip("no PostgreSQL driver: pip install 'autoprune[postgres]'")
    version = sorted(os.listdir("/usr/lib/postgresql"), key=lambda v: [int(p) for p in v.split(".") if p.isdigit()])[-1]
    c = Cluster(version, f"autoprune_kill_{uuid.uuid4().hex[:8]}", _free_port())
    made = subprocess.run(["pg_createcluster", "-p", str(c.port), version, c.name], capture_output=True, text=True, timeout=120)
    if made.returncode != 0:
        pytest.skip(f"cannot create a PostgreSQL cluster: {made.stderr.strip()[-300:]}")
    try:
        c.ctl("start")
        c.wait_ready()
        c.psql(f"CREATE ROLE autoprune LOGIN PASSWORD '{c.password}'")
        c.psql("CREATE DATABASE autoprune_kill OWNER autoprune")
        yield c
    finally:
        subprocess.run(["pg_dropcluster", "--stop", version, c.name], capture_output=True, timeout=120)


def _search(c: Cluster, runs: Path) -> list[str]:
    return [sys.executable, "-m", "autoprune.cli", *SEARCH, "--runs-dir", str(runs), "--storage", c.url]


def _stop_when(c: Cluster, proc: subprocess.Popen, run_dir: Path, done: int, delay: float) -> None:
    """Stop the server ``delay`` s after the study holds ``done`` finished trials, the search still running."""
    deadline = time.monotonic() + 400
    while not (run_dir / "run.json").is_file():  # written once the study exists: no race on its tables
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()[-2000:]
        time.sleep(0.1)
    study = c.study()
    while len(study.get_trials(deepcopy=False, states=(State.COMPLETE, State.PRUNED))) < done:
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()[-2000:]
        time.sleep(0.05)
    time.sleep(delay)
    assert proc.poll() is None, "the search ended before the server was stopped"
    c.ctl("stop", "-m", "immediate")


def _export_whole(export: Path) -> None:
    """No export, or one that loads with every hash checked; no temporary left beside it."""
    import autoprune

    assert not list(export.parent.glob(f".{export.name}.*"))
    if export.exists():
        autoprune.load(export)


# where the stop falls: seeded within the trials (1 .. TRIALS-1 finished) or the validation after them
@pytest.mark.parametrize("stage, seed", [("trials", 1), ("trials", 2), ("validation", 3)])
def test_a_storage_server_stopped_mid_search_is_one_line_and_a_rerun_resumes(tmp_path, cluster, stage, seed):
    rng = random.Random(seed)
    done, delay = (rng.randint(1, TRIALS - 1), rng.uniform(0.0, 1.5)) if stage == "trials" else (TRIALS, rng.uniform(0.0, 3.0))
    runs = tmp_path / "runs"
    export = runs / STUDY / "export" / "best"
    proc = subprocess.Popen(_search(cluster, runs), cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        _stop_when(cluster, proc, runs / STUDY, done, delay)
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()

    # the first run: one line naming the storage (password masked) and how to resume, status 2
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert proc.returncode == 2 and "Traceback" not in err and "Exception" not in err, err[-3000:]
    assert len(errors) == 1 and errors[0].startswith("error: --storage postgresql://autoprune:***@127.0.0.1"), err[-3000:]
    assert "stopped answering" in errors[0] and "re-run the same command" in errors[0]
    assert cluster.password not in err + out
    _export_whole(export)

    cluster.ctl("start")
    cluster.wait_ready()
    kept = {t.number: tuple(t.values) for t in cluster.study().get_trials(states=(State.COMPLETE,))}
    assert len(kept) >= done  # what the server held when it stopped is still there

    rerun = subprocess.run(_search(cluster, runs), cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0 and "Traceback" not in rerun.stderr, rerun.stderr[-3000:]
    study = cluster.study()
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(len(trials)))  # every trial its own number
    after = {t.number: tuple(t.values) for t in trials if t.state == State.COMPLETE}
    assert all(after[n] == v for n, v in kept.items())  # nothing finished was lost or redone
    # the count, within the README's bound for WORKERS processes; nothing left running
    assert TRIALS <= len(study.get_trials(states=(State.COMPLETE, State.PRUNED))) <= TRIALS + WORKERS - 1
    assert not study.get_trials(states=(State.RUNNING, State.WAITING))
    failed = study.get_trials(states=(State.FAIL,))
    assert all(t.user_attrs.get("fail_reason", "").startswith("WorkerDied") for t in failed), \
        [t.user_attrs.get("fail_reason") for t in failed]
    # the trials in flight were failed; the knobs of those that had drawn them ran again
    requeued = {t.user_attrs.get(REQUEUED_KEY) for t in trials}
    assert all(t.number in requeued for t in failed if t.params)
    _export_whole(export)
    assert export.is_dir() and json.loads((export / "arch.json").read_text())["trial"] in after
