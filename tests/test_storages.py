"""Two worker processes on one study: SQLite, a journal file, and a PostgreSQL server on 127.0.0.1.

Both processes start together and run trials on each storage in turn (one start-up cost for
all three). Each reports the trials it ran; together they must be exactly the study's trials.
"""
from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import uuid
from pathlib import Path

import optuna
import pytest
import torch

from autoprune.run.context import build_context
from autoprune.run.settings import SearchSettings
from autoprune.search.trials import open_study, optimize
from autoprune.run.study import WORKER_KEY, finished

TRIALS = 2
WORKERS = 2
# What .ci/postgres sets up; AUTOPRUNE_TEST_POSTGRES_URL overrides it.
LOCAL_POSTGRES = "postgresql+psycopg2://autoprune:autoprune@127.0.0.1:5432/autoprune_test"


def settings(run_root: Path, **kw) -> SearchSettings:
    base = dict(tracker="siamrpn", preset="tiny", budget_kind="mflops", budget_value=25.0, trials=TRIALS, proxy_steps=1,
                proxy_sequences=1, parent_steps=4, validate_max=0, runs_dir=str(run_root), sampler="random", command="test")
    base.update(kw)
    return SearchSettings.from_options(**base)


def _postgres_url() -> tuple[str | None, str]:
    """A reachable server's URL, or None and why not."""
    given = os.environ.get("AUTOPRUNE_TEST_POSTGRES_URL")
    url = given or LOCAL_POSTGRES
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 5})
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:
        if given:  # CI started a server: failing to reach it is a failure, not a skip
            raise
        return None, f"no PostgreSQL server at {url} ({type(exc).__name__}); run `bash .ci/postgres` as root to start one"
    return url, ""


def _work(all_settings: list[SearchSettings], results) -> None:
    """One worker process: trials on every storage in turn; reports (storage, trial number) it ran."""
    torch.set_num_threads(1)
    ctx = build_context(all_settings[0], progress=False)
    ran = set()
    for s in all_settings:
        optimize(dataclasses.replace(ctx, settings=s), open_study(s), progress=False,
                 on_step=lambda trial, step, loss, s=s: ran.add((s.storage or "sqlite", trial.number)))
    results.put((os.getpid(), sorted(ran)))


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    root = tmp_path_factory.mktemp("storages")
    pg_url, pg_reason = _postgres_url()
    name = f"two-workers-{uuid.uuid4().hex[:8]}"
    urls = {"sqlite": None, "journal": f"journal:{root / 'study.log'}", "postgresql": pg_url}
    runs = {kind: settings(root / kind, storage=url, study_name=name) for kind, url in urls.items() if kind == "sqlite" or url}
    for s in runs.values():
        open_study(s)  # created once here, so the workers only ever load it
    spawn = mp.get_context("spawn")
    results = spawn.Queue()
    procs = [spawn.Process(target=_work, args=(list(runs.values()), results)) for _ in range(WORKERS)]
    for p in procs:
        p.start()
    reports = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0] * WORKERS
    yield {kind: (open_study(s), s.storage or "sqlite") for kind, s in runs.items()}, dict(reports), pg_reason
    if pg_url:
        optuna.delete_study(study_name=name, storage=pg_url)


@pytest.mark.parametrize("kind", ["sqlite", "journal", "postgresql"])
def test_two_workers_on_one_storage_give_the_count_with_unique_numbers(shared, kind):
    studies, reports, pg_reason = shared
    if kind not in studies:
        pytest.skip(pg_reason)
    study, key = studies[kind]
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(len(trials)))
    # two workers may each start the last trial at the same moment: at most one extra
    assert TRIALS <= finished(study) <= TRIALS + WORKERS - 1
    assert all(t.state == optuna.trial.TrialState.COMPLETE and t.values and "arch" in t.user_attrs for t in trials)
    ran = [{n for k, n in numbers if k == key} for numbers in reports.values()]
    assert not (ran[0] & ran[1])  # no trial ran twice
    assert ran[0] | ran[1] == {t.number for t in trials}  # every trial a worker ran is in the study, and only those
    assert {t.system_attrs[WORKER_KEY]["pid"] for t in trials} <= set(reports)


def _open_at_once(barrier, run_dir: str, retries: int, errors) -> None:
    from autoprune.run import study as study_mod

    study_mod.SCHEMA_RACE_RETRIES = retries
    barrier.wait()
    try:
        study_mod.storage_for(Path(run_dir), None, heartbeat=False)
    except Exception as exc:  # collected for the parent's assertion
        errors.put(str(exc))


def _race(tmp_path: Path, retries: int, rounds: int = 6, procs: int = 4) -> list[str]:
    ctx = mp.get_context("fork")
    errors = ctx.Queue()
    for r in range(rounds):
        barrier = ctx.Barrier(procs)
        workers = [ctx.Process(target=_open_at_once, args=(barrier, str(tmp_path / f"run{retries}-{r}"), retries, errors))
                   for _ in range(procs)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=60)
    found = []
    while not errors.empty():
        found.append(errors.get())
    return found


def test_processes_opening_a_new_sqlite_study_at_once_all_succeed(tmp_path):
    assert _race(tmp_path, retries=5) == []
