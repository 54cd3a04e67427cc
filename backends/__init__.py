"""Backends turn a final Graph into native code; one today, "llvm" (llvmlite).

Nothing here imports torch or llvmlite at import time: `nnc.load` must work without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nnc.errors import InputError

if TYPE_CHECKING:
    from .llvm import LLVMBackend

__all__ = ["BACKENDS", "get_backend"]

BACKENDS = ("llvm",)


def get_backend(name: str = "llvm", cpu: str = "host", precision: str = "network") -> LLVMBackend:
    """The backend called `name`, targeting `cpu` ("host" or "generic"), computing float values
    in `precision` ("network" or "double")."""
    if name not in BACKENDS:
        raise InputError(f"unknown backend {name!r}", hint=f"choose one of: {', '.join(BACKENDS)}")
    from .llvm import LLVMBackend

    return LLVMBackend(cpu, precision)
