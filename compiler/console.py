"""The nnc command as a process: SIGINT and SIGTERM become one line and exit 130 / 143 (outputs
are staged, so an interrupted run leaves none), and warnings from torch and the libraries it
calls become one summary line instead of tracebacks on stderr."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType

__all__ = [
    "EXIT_SIGNALS",
    "Interrupted",
    "Signals",
    "Warnings",
    "captured_warnings",
    "raising_signals",
]

EXIT_SIGNALS = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal's number


class Interrupted(BaseException):
    """A signal ended the run (a BaseException, so `except Exception` cleanup code lets it pass)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class Signals:
    """The signal that ended the run, remembered even when the code it interrupted turned it into
    another error (a linker killed by the same Ctrl-C fails on its own)."""

    received: int | None = None
    # set once the outputs are committed: the run is over, and a signal from then on changes nothing
    done: bool = False
    # the nnc process itself (not a caller of cli.main): after a finished run, signals stay ignored
    # until the process exits (torch's teardown takes a second)
    standalone: bool = False

    def exit_code(self) -> int:
        return EXIT_SIGNALS[signal.Signals(self.received or signal.SIGINT)]


@contextlib.contextmanager
def raising_signals(state: Signals) -> Iterator[None]:
    """SIGINT and SIGTERM raise Interrupted in the block (main thread only: Python runs signal
    handlers there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if state.done:
            return
        if _in_destructor(frame):  # raised there, Python would print it and go on: send it again
            os.kill(os.getpid(), signum)
            return
        state.received = signum
        raise Interrupted(signum)

    previous = {signum: signal.signal(signum, handler) for signum in EXIT_SIGNALS}
    try:
        yield
    finally:
        after_run = signal.SIG_IGN if state.done and state.standalone else None
        for signum, old in previous.items():
            signal.signal(signum, after_run or old)


def _in_destructor(frame: FrameType | None) -> bool:
    """Whether the code running is a __del__ (llvmlite frees its modules in one)."""
    while frame is not None:
        if frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


class Warnings(logging.Handler):
    """Warnings seen while captured: the first line of each kind → how often."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.note(record.getMessage())

    def note(self, text: str) -> None:
        lines = str(text).strip().splitlines()
        self.seen[lines[0][:160] if lines else "(an empty warning)"] += 1

    def summary(self) -> str | None:
        """'torch ... warned 3 times (2 kinds); first: ...', or None when nothing warned."""
        if not self.seen:
            return None
        total = sum(self.seen.values())
        kinds = f" ({len(self.seen)} kinds)" if len(self.seen) > 1 else ""
        return (
            f"torch and the libraries nnc calls warned {total} time{'s' if total > 1 else ''}"
            f"{kinds}; first: {next(iter(self.seen))} (NNC_DEBUG=1 shows them all)"
        )


@contextlib.contextmanager
def captured_warnings() -> Iterator[Warnings]:
    """Python warnings and the warnings torch logs (its loggers print to stderr themselves) are
    collected instead of printed."""
    collected = Warnings()
    loggers = [logging.getLogger()] + [
        logging.getLogger(name)
        for name in list(logging.root.manager.loggerDict)
        if name.split(".")[0] in ("torch", "py")
    ]
    saved = [(logger, logger.handlers[:]) for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = lambda message, category, *rest: collected.note(
            f"{category.__name__}: {message}"
        )
        for logger in loggers:
            logger.handlers = [collected] if logger.handlers or logger is loggers[0] else []
        try:
            yield collected
        finally:
            for logger, handlers in saved:
                logger.handlers = handlers
