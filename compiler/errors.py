"""One exception hierarchy for nnc: every message says what is wrong, where, and what to do."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = [
    "EXIT_CODES",
    "BackendError",
    "FidelityError",
    "GraphInvariantError",
    "InputError",
    "InternalError",
    "MissingDependencyError",
    "NNCError",
    "UnsupportedOpError",
    "error_context",
    "exit_code",
]


class NNCError(Exception):
    """Root of every error nnc raises on purpose; `hint` says what to do about it."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.context: list[str] = []

    def __str__(self) -> str:
        lines = [self.message]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        lines.extend(f"During: {c}" for c in self.context)
        return "\n".join(lines)


class InputError(NNCError):
    """Raised for a bad model file, input spec, option, input array or output path."""


class UnsupportedOpError(InputError):
    """Raised by the front end for operations nnc cannot compile, naming op, node and source line;
    `problems` lists every one the model uses."""

    def __init__(self, message: str, hint: str = "", problems: Sequence[Any] = ()) -> None:
        super().__init__(message, hint)
        self.problems = list(problems)


class GraphInvariantError(NNCError):
    """Raised when a Graph breaks an invariant after a pass: a bug in nnc, not in the model."""


class FidelityError(NNCError):
    """Raised when the compiled artifact differs from the network beyond the tolerance."""


class BackendError(NNCError):
    """Raised when LLVM rejects the generated module or linking the shared library fails."""


class MissingDependencyError(NNCError):
    """Raised when an optional tool (C compiler, engine, Julia) is missing; names the install command."""


class InternalError(NNCError):
    """Wraps an unexpected foreign exception so the user still gets context and a way to report it."""


EXIT_CODES: dict[type[NNCError], int] = {
    InputError: 2,
    FidelityError: 3,
    MissingDependencyError: 4,
    BackendError: 5,
    GraphInvariantError: 70,
    InternalError: 70,
    NNCError: 70,
}


def exit_code(error: NNCError) -> int:
    """The CLI exit code for an error: the entry of its nearest class in EXIT_CODES."""
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 70


@contextlib.contextmanager
def error_context(what: str) -> Iterator[None]:
    """Add a "During: <what>" line to nnc errors and wrap foreign exceptions in InternalError."""
    try:
        yield
    except NNCError as error:
        error.context.append(what)
        raise
    except Exception as error:
        wrapped = InternalError(
            f"{type(error).__name__}: {error}",
            hint="this is a bug in nnc; rerun with NNC_DEBUG=1 and report the traceback",
        )
        wrapped.context.append(what)
        raise wrapped from error
