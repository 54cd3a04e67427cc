"""What a compile is doing right now: the running tasks (stage, pass, search), each with its
elapsed time and budget, a status line and the best candidate so far. Passes and the driver update
a Progress; a live display draws it on a terminal and vanishes when the work ends, so the summary
printed afterwards states each fact once."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["Progress", "Task", "live_display", "render_tasks"]

REFRESH_PER_SECOND = 4
BAR_WIDTH = 24
_DISPLAY = threading.Lock()  # held while a live display draws on stderr


@dataclass(frozen=True)
class Task:
    """One running piece of work: a stage, a pass, or a search inside a pass."""

    label: str
    budget: float | None  # seconds the work may take (None: no budget)
    started: float  # time.monotonic() when it began
    status: str = ""  # what it is doing now
    best: str = ""  # the best candidate found so far, when it searches

    def elapsed(self) -> float:
        return time.monotonic() - self.started


class Progress:
    """The stack of running tasks, innermost last; safe to update from any thread."""

    def __init__(self) -> None:
        self._tasks: list[Task] = []
        self._lock = threading.Lock()

    def __call__(self, status: str) -> None:
        """Say what the innermost task is doing now (passes call ctx.progress("...") )."""
        self._update(status=status)

    def best(self, text: str) -> None:
        """Show the best candidate the innermost task has found so far."""
        self._update(best=text)

    @contextmanager
    def task(self, label: str, budget: float | None = None) -> Iterator[Progress]:
        """Run the body as a task (nested inside the current one) with an optional budget."""
        with self._lock:
            self._tasks.append(Task(label, budget, time.monotonic()))
            depth = len(self._tasks)
        try:
            yield self
        finally:
            with self._lock:
                del self._tasks[depth - 1 :]

    def snapshot(self) -> list[Task]:
        with self._lock:
            return list(self._tasks)

    def _update(self, **changes: str) -> None:
        with self._lock:
            if self._tasks:
                self._tasks[-1] = replace(self._tasks[-1], **changes)


@contextmanager
def live_display(progress: Progress, enabled: bool = True) -> Iterator[None]:
    """Draw the running tasks on stderr while the body runs — on a terminal only — and erase the
    display when it ends."""
    # NOTE: one display at a time: compiles running in other threads meanwhile draw nothing
    if not enabled or not sys.stderr.isatty() or not _DISPLAY.acquire(blocking=False):
        yield
        return
    from rich.console import Console
    from rich.live import Live

    try:
        with Live(
            get_renderable=lambda: render_tasks(progress.snapshot()),
            console=Console(stderr=True),
            refresh_per_second=REFRESH_PER_SECOND,
            transient=True,
        ):
            yield
    finally:
        _DISPLAY.release()


def render_tasks(tasks: list[Task]) -> Any:
    """One line per running task: label, budget bar, elapsed / budget, status; then the best
    candidate of the innermost task that has one."""
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 1))
    for _ in range(4):
        grid.add_column()
    for depth, task in enumerate(tasks):
        elapsed = task.elapsed()
        if task.budget:
            bar: Any = ProgressBar(
                total=task.budget, completed=min(elapsed, task.budget), width=BAR_WIDTH
            )
            clock = f"{elapsed:5.1f} s of {task.budget:g} s"
            if elapsed > task.budget:
                clock += " (over budget)"
        else:
            bar, clock = Text(""), f"{elapsed:5.1f} s"
        label = Text("  " * depth + task.label, style="bold" if depth == 0 else "")
        grid.add_row(label, bar, Text(clock, style="cyan"), Text(task.status, style="dim"))
    best = next((t.best for t in reversed(tasks) if t.best), "")
    if not best:
        return grid
    return Group(grid, Text.assemble(("  best so far: ", "green"), best))
