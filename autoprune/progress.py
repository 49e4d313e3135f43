"""Rich progress bars that can be switched off (tests, workers) with one flag."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)


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
