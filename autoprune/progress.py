"""Rich progress bars that can be switched off (tests, workers) with one flag.

On a terminal they are live rich bars; when stderr is a file or pipe (CI logs, nohup, a
cluster's job log) a live bar would show nothing until the end, so the same calls print a
plain status line at most every ``LOG_EVERY_S`` seconds and once at the end.
"""
from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

# Progress, notes, warnings and errors go to stderr; results (tables, JSON, what a command
# produced) to stdout, so `autoprune data info | grep val` sees only the results.
console = Console(stderr=True)

# A pipe or file has no width; rich would assume 80 columns and squeeze wide tables into
# truncated headers, so results take what they need there (COLUMNS still decides if set).
PIPE_WIDTH = 160


def _results_console() -> Console:
    out = Console()
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = PIPE_WIDTH
    return out


results = _results_console()

LOG_EVERY_S = 30.0


class _LogBar:
    """Plain-line progress for non-terminal output."""

    def __init__(self, description: str, total: float | None) -> None:
        self.description, self.total = description, total
        self.done, self.info = 0.0, ""
        self.start = self._last = time.monotonic()

    def advance(self, n: float = 1) -> None:
        self.update(advance=n)

    def update(self, *, advance: float = 0, info: str | None = None) -> None:
        self.done += advance
        if info is not None:
            self.info = info
        if time.monotonic() - self._last >= LOG_EVERY_S:
            self.log()

    def log(self) -> None:
        self._last = now = time.monotonic()
        elapsed = now - self.start
        count = f"{self.done:g}"
        if self.total:
            count += f"/{self.total:g} ({100 * self.done / self.total:.0f} %)"
            if 0 < self.done < self.total:
                count += f", about {_clock(elapsed * (self.total - self.done) / self.done)} left"
        line = f"{self.description}: {count}, {_clock(elapsed)} elapsed"
        console.print(line + (f" — {self.info}" if self.info else ""), markup=False, highlight=False, soft_wrap=True)


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}"


class _Bar:
    def __init__(self, progress: Progress | None, task) -> None:
        self._progress = progress
        self._task = task

    def advance(self, n: float = 1) -> None:
        if self._progress is not None and n:
            self._progress.advance(self._task, n)

    def update(self, *, advance: float = 0, info: str | None = None) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=advance, info=info or "")


@contextlib.contextmanager
def progress_bar(description: str, *, total: float | None, enabled: bool = True) -> Iterator[_Bar]:
    """A bar with count, elapsed and remaining time and a free-text ``info`` column."""
    if not enabled:
        yield _Bar(None, None)
        return
    if not console.is_terminal:
        bar = _LogBar(description, total)
        try:
            yield bar
        finally:
            bar.log()
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total, info="")
        yield _Bar(progress, task)
