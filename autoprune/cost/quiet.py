"""Workers of one search take turns: no child is timed while another worker trains.

A latency budget is decided by timing each child, and the other worker's fine-tune on the
second core slows that timing by 20-40 % (memory bandwidth and caches are shared): the
search then keeps children that re-measure far under their budget on a quiet machine.
Workers on one machine therefore coordinate through two lock files in the run directory:

- a worker that fine-tunes holds the *work* lock shared, and between steps calls
  :meth:`QuietTiming.pause_point`, which lets a waiting timer go first;
- a worker that times a child takes the *intent* lock exclusively (no new step starts
  anywhere), then the work lock exclusively (every step in flight has finished), times,
  and lets go of both.

The locks are advisory ``flock`` locks, so they cost nothing without contention and
vanish with a killed process. Where ``fcntl`` is missing (Windows), timing is not
coordinated. A timer that waits longer than ``wait_s`` times anyway and says so.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

__all__ = ["QuietTiming"]

WORK, INTENT = ".timing-work.lock", ".timing-intent.lock"


class QuietTiming:
    """Take-turns locks for the processes of one run directory (see the module docstring)."""

    def __init__(self, directory: str | Path, *, wait_s: float = 300.0, poll_s: float = 0.01) -> None:
        self.directory = Path(directory).resolve()  # absolute: Ray trials run in their own working directory
        self.wait_s = wait_s
        self.poll_s = poll_s
        self._work = None  # this process's shared hold on the work lock while it trains
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
        """Hold the work lock shared for a block of training (fine-tune, proxy tracking)."""
        if not self.enabled:
            yield
            return
        self._work = self._open(WORK)
        self._wait_turn()
        fcntl.flock(self._work, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(self._work, fcntl.LOCK_UN)
            self._work.close()
            self._work = None

    def pause_point(self) -> None:
        """Between two training steps: if a timer is waiting, let go until it has timed."""
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
        """Time the block with every other worker of the run paused between its steps."""
        self.waited_s, self.contended = 0.0, False
        if not self.enabled:
            yield
            return
        start = time.perf_counter()
        with self._open(INTENT) as intent, self._open(WORK) as work:
            held = [f for f in (intent, work) if self._acquire(f, start)]
            self.waited_s = time.perf_counter() - start
            self.contended = len(held) < 2
            try:
                yield
            finally:
                for f in reversed(held):
                    fcntl.flock(f, fcntl.LOCK_UN)

    def _acquire(self, f, start: float) -> bool:
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.perf_counter() - start > self.wait_s:
                    return False
                time.sleep(self.poll_s)
