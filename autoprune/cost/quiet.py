"""Processes on one machine take turns: a latency budget's child is timed while nobody trains.

A latency budget is decided by timing each child, and a fine-tune on the second core (the
search's other worker, or a search beside it) slows that timing by 20-40 % (memory bandwidth
and caches are shared): the search then keeps children that re-measure far under their
budget on a quiet machine. So every autoprune process on a machine coordinates through two
lock files in the cache directory (``$AUTOPRUNE_CACHE/timing``):

- training (:func:`autoprune.train.train`), tracking evaluation, rendering the built-in
  dataset and a latency search's trials (their projections and cuts load a core too) hold
  the *work* lock shared, and between steps (sequences) call :func:`pause_point`, which
  lets a waiting timer go first;
- a latency-budget timing takes the *intent* lock exclusively (no new step starts
  anywhere), then the work lock exclusively (every step in flight has finished), times,
  and lets go of both.

The locks are advisory ``flock`` locks: a few system calls per training step, nothing held
by a killed process. They are per machine, as contention is: searches on several machines
sharing one run directory do not wait for each other. Where ``fcntl`` is missing (Windows)
nothing is coordinated. A timer that waits longer than ``wait_s`` times anyway and says so.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

__all__ = ["QuietTiming", "TimingWaitWarning", "machine_quiet", "pause_point", "working"]


class TimingWaitWarning(UserWarning):
    """A latency timing waited long for the machine's training to pause."""


WORK, INTENT = ".timing-work.lock", ".timing-intent.lock"
NOTE_AFTER_S = 10.0  # a wait longer than this is worth a warning: something trains without pause points
WAIT_S = 300.0  # longest wait for others' steps; the longest phase without pause points is one sequence or an export


class QuietTiming:
    """Take-turns locks of the processes that share ``directory`` (see the module docstring)."""

    def __init__(self, directory: str | Path, *, wait_s: float = WAIT_S, poll_s: float = 0.01) -> None:
        self.directory = Path(directory).resolve()  # absolute: Ray trials run in their own working directory
        self.wait_s = wait_s
        self.poll_s = poll_s
        self._work = None  # this process's shared hold on the work lock while it trains
        self._depth = 0  # nested working() blocks of this process (a trial's scoring holds its fine-tune's)
        self._guard = threading.Lock()
        self.waited_s = 0.0  # how long the last timing waited for others' steps
        self.contended = False  # the last timing gave up waiting (timed with others still busy)

    @property
    def enabled(self) -> bool:
        return fcntl is not None

    def _open(self, name: str):
        self.directory.mkdir(parents=True, exist_ok=True)
        return open(self.directory / name, "a+b")  # noqa: SIM115 - held across calls

    @contextlib.contextmanager
    def working(self) -> Iterator[None]:
        """Hold the work lock shared for a block of training or tracking (re-entrant)."""
        if not self.enabled:
            yield
            return
        with self._guard:
            self._depth += 1
            if self._depth == 1:
                self._work = self._open(WORK)
                self._wait_turn()
                fcntl.flock(self._work, fcntl.LOCK_SH)
        try:
            yield
        finally:
            with self._guard:
                self._depth -= 1
                if self._depth == 0:
                    fcntl.flock(self._work, fcntl.LOCK_UN)
                    self._work.close()
                    self._work = None

    def pause_point(self) -> None:
        """Between two steps of work: if a timer is waiting, let go until it has timed."""
        if self._work is None:
            return
        with self._open(INTENT) as intent:
            try:
                fcntl.flock(intent, fcntl.LOCK_SH | fcntl.LOCK_NB)
                fcntl.flock(intent, fcntl.LOCK_UN)
                return  # nobody is timing
            except BlockingIOError:
                pass
        fcntl.flock(self._work, fcntl.LOCK_UN)
        self._wait_turn()
        fcntl.flock(self._work, fcntl.LOCK_SH)

    def _wait_turn(self) -> None:
        # blocks while a timer holds the intent lock: a few seconds of one child's timing
        with self._open(INTENT) as intent:
            fcntl.flock(intent, fcntl.LOCK_SH)
            fcntl.flock(intent, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def timing(self) -> Iterator[None]:
        """Time the block with every other process of the directory paused between its steps."""
        self.waited_s, self.contended = 0.0, False
        if not self.enabled:
            yield
            return
        own = self._work  # this process's own work hold would block its own timer
        if own is not None:
            fcntl.flock(own, fcntl.LOCK_UN)
        start = time.perf_counter()
        try:
            with self._open(INTENT) as intent, self._open(WORK) as work:
                held = [f for f in (intent, work) if self._acquire(f, start)]
                self.waited_s = time.perf_counter() - start
                self.contended = len(held) < 2
                if self.waited_s > NOTE_AFTER_S:
                    warnings.warn(f"a latency timing waited {self.waited_s:.0f} s for training elsewhere on this machine "
                                  f"to pause{' and then timed anyway' if self.contended else ''} (locks in {self.directory})",
                                  TimingWaitWarning, stacklevel=3)
                try:
                    yield
                finally:
                    for f in reversed(held):
                        fcntl.flock(f, fcntl.LOCK_UN)
        finally:
            if own is not None:
                fcntl.flock(own, fcntl.LOCK_SH)

    def _acquire(self, f, start: float) -> bool:
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.perf_counter() - start > self.wait_s:
                    return False
                time.sleep(self.poll_s)


_machine: dict[str, QuietTiming] = {}  # by cache directory: the handle this process made for it


def _cache_key() -> str:
    return os.environ.get("AUTOPRUNE_CACHE", "")


def machine_quiet() -> QuietTiming:
    """This process's handle on the machine's locks (one per cache directory)."""
    from autoprune.cache import cache_dir

    key = _cache_key()
    if key not in _machine:
        _machine[key] = QuietTiming(cache_dir("timing"))
    return _machine[key]


def working():
    """``machine_quiet().working()``: a block of training or tracking others may time around."""
    return machine_quiet().working()


def pause_point() -> None:
    """Between steps of work: give way to a waiting latency timing (free when nobody times)."""
    quiet = _machine.get(_cache_key())  # none made yet: nothing of this process holds the work lock
    if quiet is not None:
        quiet.pause_point()
