"""Terminal output for the CLI that is more than a line: the indexing progress bar and the
watch loop. Kept out of ``cli.py`` so the commands stay readable (and under the size bound)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qa import Watcher, WatchEvent


class RichProgress:
    """Index progress on stderr: a bar for stages that know their size. Shown from the first
    stage on, so a run that builds nothing draws nothing."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(TextColumn("{task.description:<40}"), BarColumn(),
                                  MofNCompleteColumn(), TimeElapsedColumn(),
                                  console=Console(stderr=True), transient=False)
        self._task: Any = None
        self._started = False

    def __enter__(self) -> RichProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started:
            self._finish_stage()
            self._progress.stop()

    def _finish_stage(self) -> None:
        if self._task is not None:
            total = self._progress.tasks[-1].total or 1
            self._progress.update(self._task, completed=total, total=total)

    def stage(self, name: str, total: int | None = None) -> None:
        if not self._started:
            self._progress.start()
            self._started = True
        self._finish_stage()
        self._task = self._progress.add_task(name, total=total)

    def advance(self, n: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, n)


def run_watch(watcher: Watcher, echo: Callable[[str], None]) -> None:
    """Watch in the foreground until Ctrl+C: one line per re-index (or its error)."""
    import time

    from qa.safety import printable_line

    def show(event: WatchEvent) -> None:
        echo(printable_line(event.line()))
        if event.report is not None:
            for line in event.report.lines():
                echo("  " + printable_line(line))

    watcher.on_event = show
    watcher.start()
    try:
        while watcher.running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        watcher.stop()
