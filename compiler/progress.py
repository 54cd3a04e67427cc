"""One progress helper for long work (search, enumeration): a ticking line while a call runs."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["ticking"]

WIDTH = 20


@contextmanager
def ticking(
    label: str, budget: float, quiet: bool = False, status: Callable[[], str] = lambda: ""
) -> Iterator[None]:
    """Redraw `label [####----] 12/30 s status` on stderr twice a second while the body runs
    (only on a terminal, and not when quiet)."""
    if quiet or not sys.stderr.isatty():
        yield
        return
    done = threading.Event()
    start = time.monotonic()

    def draw() -> None:
        while not done.wait(0.5):
            elapsed = time.monotonic() - start
            filled = min(WIDTH, int(WIDTH * elapsed / max(budget, 1e-9)))
            bar = "#" * filled + "-" * (WIDTH - filled)
            sys.stderr.write(f"\r{label} [{bar}] {elapsed:.0f}/{budget:.0f} s {status()}")
            sys.stderr.flush()

    thread = threading.Thread(target=draw, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        sys.stderr.write("\r" + " " * (len(label) + WIDTH + 40) + "\r")
        sys.stderr.flush()
