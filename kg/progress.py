"""`progress_bar`: a rich progress bar on stderr for long work, or nothing when it is off."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_bar(enabled: bool, *, description: str, total: int | None = None, unit: str = "items") -> Iterator[Callable[[int], None]]:
    """Yields `update(completed)` (the amount done so far); a no-op when not `enabled`.

    unit: "bytes" (sizes, speed and time left) or the name of what is counted, e.g. "records" (counts, items
    per second and elapsed time). On stderr, so that a command's own output (e.g. `--json`) stays clean.
    """
    if not enabled:
        yield lambda _completed: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.text import Text

    if unit == "bytes":
        columns = (DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    else:
        class ItemsPerSecond(ProgressColumn):
            def render(self, task):
                speed = task.finished_speed or task.speed
                return Text("" if speed is None else f"{speed:,.1f} {unit}/s", style="progress.data.speed")

        columns = (MofNCompleteColumn(), TextColumn(unit), ItemsPerSecond(), TimeElapsedColumn())
    bar = Progress(TextColumn(description), BarColumn(), *columns, console=Console(stderr=True))
    task = bar.add_task(description, total=total or None)
    bar.start()
    try:
        yield lambda completed: bar.update(task, completed=completed)
    finally:
        bar.stop()
