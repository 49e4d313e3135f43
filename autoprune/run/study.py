"""Where a search lives: ``runs/<study>/`` with its Optuna storage, and reading it back."""
from __future__ import annotations

import contextlib
import datetime
import importlib.util
import math
import os
import socket
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import optuna

from autoprune.errors import AutoPruneError, ConfigError, StorageError
from autoprune.redact import URL_ENV, is_masked, mask_secrets, remember, unmasked, without_password
from autoprune.run.record import RECORD_FILE, RunRecord, read_record
from autoprune.run.settings import SearchSettings

DIRECTIONS = ("maximize", "minimize")  # proxy AO up, per-frame cost down
CONSTRAINTS_KEY = "constraints"  # the list form optuna-dashboard shows (Optuna still reads it)
WORKER_KEY = "worker"  # {"host", "pid"} of the process running a trial
REQUEUED_KEY = "requeued_from"  # a re-run of a trial whose worker died
# A worker records itself on a trial as the trial starts; a RUNNING trial no worker recorded
# for this long was started by a process that died (or lost its storage) at once.
UNCLAIMED_GRACE_S = 30.0

warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeats, multivariate TPE


SCHEMA_RACE_RETRIES = 5
_SCHEMA_RACE_SIGNS = ("already exists", "UNIQUE constraint failed: alembic_version", "database is locked")


def storage_for(run_dir: Path, url: str | None, *, heartbeat: bool = True):
    """SQLite in the run directory by default; ``journal:FILE`` for a journal file; else any RDB URL."""
    if url is None:
        run_dir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{(run_dir / 'study.db').resolve()}"
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = Path(url[len("journal:"):]).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    given = url
    if is_masked(url):  # run.json keeps the URL with its password masked
        url = unmasked(url) or without_password(url)
    remember(url)
    url = with_installed_driver(url)
    kwargs = {}
    if heartbeat:
        # A killed worker's RUNNING trial is failed by the heartbeat check and re-queued once.
        kwargs = {"heartbeat_interval": 5, "grace_period": 20,
                  "heartbeat_stale_trial_callback": _retry_stale()}
    attempt = 0
    while True:
        try:
            return _RDBStorage(url, engine_kwargs={"pool_pre_ping": True}, **kwargs)
        except Exception as exc:  # sqlalchemy raises many types for a bad URL or an unreachable server
            # Processes opening a new database at once all create its tables and stamp its
            # schema version; the losers see one of these. The schema is there then: open again.
            if any(sign in str(exc) for sign in _SCHEMA_RACE_SIGNS) and attempt < SCHEMA_RACE_RETRIES:
                attempt += 1
                time.sleep(0.2 * attempt)
                continue
            hint = ""
            if is_masked(given) and not unmasked(given):
                hint = (f"; the run records it with the password masked: set {URL_ENV} to the full URL "
                        "(or give the password through PGPASSWORD or ~/.pgpass)")
            first = (str(exc).splitlines() or [""])[0]
            if url.startswith("sqlite") and ("not a database" in first or "malformed" in first):
                hint = ("; the SQLite file is damaged: restore it from a backup, or move it aside and re-run the "
                        "search to start the study afresh")
            raise ConfigError(mask_secrets(f"--storage {given}: cannot open ({type(exc).__name__}: {first}){hint}")) from None


def storage_lost(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is a lost or refused storage connection."""
    import sqlalchemy.exc

    return _lost_connection(exc) is not None


def _lost_connection(exc: BaseException | None) -> BaseException | None:
    """The driver's error of the first lost connection in ``exc``'s chain (its causes and contexts)."""
    import sqlalchemy.exc

    lost = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, sqlalchemy.exc.DisconnectionError)
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, lost):
            return getattr(exc, "orig", None) or exc
        exc = exc.__cause__ or exc.__context__
    return None


class _RDBStorage(optuna.storages.RDBStorage):
    """Optuna's RDB storage, whose heartbeat thread lets a lost connection pass.

    Left alone, the thread dies printing a traceback; the trial itself meets the same lost
    connection on its next write and the command stops with one line (see ``storage_outage``).
    """

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            super().record_heartbeat(trial_id)
        except Exception as exc:
            if not storage_lost(exc):
                raise


@contextlib.contextmanager
def storage_outage(run_dir: Path, url: str | None) -> Iterator[None]:
    """A storage that stops answering mid-command becomes one line saying how to resume."""
    try:
        yield
    except Exception as exc:
        if isinstance(exc, AutoPruneError) or not storage_lost(exc):
            raise
        cause = _lost_connection(exc)  # the driver's own words
        first = (str(cause).splitlines() or [""])[0].strip()
        name = f"--storage {url}" if url else f"the study storage {run_dir / 'study.db'}"
        raise StorageError(mask_secrets(
            f"{name} stopped answering ({type(cause).__name__}: {first}); finished trials are kept: once it is "
            "back, re-run the same command to resume")) from None


def with_installed_driver(url: str) -> str:
    """``postgresql://`` through the PostgreSQL driver that is installed.

    SQLAlchemy 2.1 reads a bare ``postgresql://`` as psycopg 3, while the ``postgres`` extra
    installs psycopg2; ``postgres://`` (as many hosting services print it) it rejects.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("postgresql", "postgres"):
        return url
    if importlib.util.find_spec("psycopg") is not None:
        return f"postgresql+psycopg://{rest}"
    if importlib.util.find_spec("psycopg2") is not None:
        return f"postgresql+psycopg2://{rest}"
    raise ConfigError(f"--storage {mask_secrets(url)}: PostgreSQL needs its driver: pip install 'autoprune[postgres]'")


def _retry_stale():
    # Optuna >= 4.9 names it RetryHeartbeatStaleTrialCallback; older releases RetryFailedTrialCallback.
    cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or optuna.storages.RetryFailedTrialCallback
    return cls(max_retry=1)


def claim(trial: optuna.trial.BaseTrial) -> None:
    """Record which process runs ``trial``, so a later run can tell a dead worker's trial from a live one."""
    trial.storage.set_trial_system_attr(trial._trial_id, WORKER_KEY, {"host": socket.gethostname(), "pid": os.getpid()})


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    try:  # a killed child its parent has not reaped yet still answers signal 0
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _died_here(trial: optuna.trial.FrozenTrial) -> bool:
    worker = trial.system_attrs.get(WORKER_KEY) or {}
    return worker.get("host") == socket.gethostname() and isinstance(worker.get("pid"), int) \
        and worker["pid"] != os.getpid() and not _process_alive(worker["pid"])


def _unclaimed(trial: optuna.trial.FrozenTrial) -> bool:
    if WORKER_KEY in trial.system_attrs or trial.datetime_start is None:
        return False
    return datetime.datetime.now() - trial.datetime_start > datetime.timedelta(seconds=UNCLAIMED_GRACE_S)


def recover_interrupted(study: optuna.Study) -> list[int]:
    """Fail the RUNNING trials whose worker died, and re-queue each once; returns their numbers.

    Trials of this machine whose process is gone are failed at once (e.g. after ``kill -9``
    and a re-run). Trials of other machines are left to the storage heartbeat, which fails
    them once their worker has been silent past the grace period. A trial no worker recorded
    itself on within ``UNCLAIMED_GRACE_S`` of its start (its process died, or lost its
    storage, as it began) is failed too. Live workers' trials are never touched.
    """
    optuna.storages.fail_stale_trials(study)  # heartbeat-enabled storages: other machines' dead workers
    recovered = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if _died_here(trial):
            worker = trial.system_attrs[WORKER_KEY]
            reason = f"WorkerDied: process {worker['pid']} on {worker['host']} stopped during the trial"
        elif _unclaimed(trial):
            reason = (f"WorkerDied: no worker recorded itself on the trial within {UNCLAIMED_GRACE_S:g} s of its start "
                      "(its process or storage stopped as it began)")
        else:
            continue
        try:
            study._storage.set_trial_user_attr(trial._trial_id, "fail_reason", reason)
            if not study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker recovered it first
        recovered.append(trial.number)
        # one retry (none for a trial that already is one), never a loop of retries
        if REQUEUED_KEY not in trial.user_attrs and "failed_trial" not in trial.system_attrs and trial.params:
            study.enqueue_trial(trial.params, user_attrs={REQUEUED_KEY: trial.number})
    return recovered


def set_constraint(trial: optuna.trial.BaseTrial, value: float) -> None:
    """Write the budget constraint (<= 0 is feasible) where samplers and the dashboard read it."""
    trial.storage.set_trial_system_attr(trial._trial_id, CONSTRAINTS_KEY, [float(value)])


def feasible(trial: optuna.trial.FrozenTrial) -> bool:
    c = trial.system_attrs.get(CONSTRAINTS_KEY)
    return bool(c) and all(v <= 0 for v in c)


def budget_use(trial: optuna.trial.FrozenTrial) -> float | None:
    """The share of the budget the trial's child costs (measured latency for a ms budget), if recorded."""
    c = trial.system_attrs.get(CONSTRAINTS_KEY)
    return 1.0 + c[0] if c else None


def finished(study: optuna.Study) -> int:
    """Trials that count towards ``--trials``: completed or deliberately stopped."""
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


def pareto(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Completed, within-budget trials not dominated in (proxy AO up, cost down)."""
    done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if feasible(t) and t.values and all(math.isfinite(v) for v in t.values)]
    front = []
    for t in done:
        ao, cost = t.values
        dominated = any((o.values[0] >= ao and o.values[1] <= cost) and (o.values[0] > ao or o.values[1] < cost) for o in done)
        if not dominated:
            front.append(t)
    return sorted(front, key=lambda t: t.values[1])


@dataclass
class RunInfo:
    """A run opened from its directory: the record it was made with and its study."""

    run_dir: Path
    study: optuna.Study
    record: RunRecord

    @property
    def settings(self) -> SearchSettings:
        return self.record.settings

    @property
    def family_name(self) -> str:
        return self.settings.tracker


def open_run(run: str | Path, *, storage: str | None = None) -> RunInfo:
    """An existing run directory (or study name under runs/)."""
    run_dir = Path(run)
    if not run_dir.exists() and (Path("runs") / run).exists():
        run_dir = Path("runs") / run
    if not (run_dir / RECORD_FILE).is_file():
        raise ConfigError(f"{run_dir}: not a search run (no run.json); pass the directory `autoprune search` printed")
    rewrite = "re-run the `autoprune search` command that made the run (it rewrites run.json and keeps finished trials)"
    try:
        meta = read_record(run_dir)
        record = RunRecord.from_meta(meta)
        name = meta["study_name"]
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:  # JSON errors are ValueErrors
        raise ConfigError(f"{run_dir / RECORD_FILE}: damaged ({type(exc).__name__}); {rewrite}") from None
    store = storage_for(run_dir, storage or meta.get("storage"))
    try:
        study = optuna.load_study(study_name=name, storage=store)
    except KeyError:
        raise ConfigError(mask_secrets(f"{run_dir}: its storage {meta.get('storage') or 'study.db'} holds no study {name!r} "
                                       "(deleted, emptied or replaced); restore it from a backup, or re-run the search to start the study afresh")) from None
    return RunInfo(run_dir=run_dir, study=study, record=record)
