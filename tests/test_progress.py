"""The live progress display (compiler/progress.py): it spans the whole search, draws budget and
best candidate, stays off when stderr is not a terminal, and one compile draws at a time."""

from __future__ import annotations

import io

from conftest import RecordingProgress
from helpers import pass_context
from nnc.passes.selection import run_searches
from nnc.progress import Progress, Task, live_display, render_tasks
from rich.console import Console


def test_progress_covers_the_whole_search(law) -> None:
    """The search's display covers the recovery and shows its best candidate."""
    artifact, progress = law
    search = [s for s in progress.seen if s[0] == "output 0"]
    assert {s[1] for s in search} == {artifact.options.sr_seconds}
    statuses = [s[2] for s in search]
    assert "fits and splits with the network as an oracle" in statuses
    assert search[-1][3].startswith("x0*x1/x2**2")  # the best candidate found, shown


def test_progress_display_draws_budget_and_best() -> None:
    tasks = [Task("pass sr", None, 0.0), Task("output 0", 30.0, 0.0, "basis search", "x0*x1")]
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(render_tasks(tasks))
    drawn = console.file.getvalue()
    assert "pass sr" in drawn and "of 30 s" in drawn and "basis search" in drawn
    assert "best so far: x0*x1" in drawn


def test_progress_display_stays_off_when_not_a_terminal(capsys) -> None:
    progress = Progress()
    with live_display(progress), progress.task("work", 1.0):
        progress("busy")
    assert capsys.readouterr().err == ""


def test_one_live_display_at_a_time(monkeypatch) -> None:
    """Compiles in several threads on a terminal: the first draws, the others stay silent."""
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    drawn = []
    monkeypatch.setattr("rich.live.Live.__enter__", lambda live: drawn.append(live) or live)
    monkeypatch.setattr("rich.live.Live.__exit__", lambda live, *exc: None)
    with live_display(Progress()), live_display(Progress()):
        pass
    assert len(drawn) == 1
    with live_display(Progress()):  # released afterwards
        pass
    assert len(drawn) == 2


def test_fanned_out_searches_show_as_one_task() -> None:
    """Searches on the fan-out: one task while they run, saying how many and on what."""
    ctx = pass_context(sr_seconds=2.0)
    ctx.progress = RecordingProgress()
    assert run_searches(ctx, abs, [-1, -2, 3], "engine search") == [1, 2, 3]
    (seen,) = ctx.progress.seen
    assert seen[:3] == ("engine search ×3", 6.0, "3 searches on serial (1 worker)")
