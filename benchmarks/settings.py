"""How long and how often the benchmark measures, and on which runtimes (shared by the runners)."""

from __future__ import annotations

from dataclasses import dataclass

from .analysis import CTYPES_SCALAR, SCALAR

__all__ = ["ALL_RUNTIMES", "NNC_RUNTIMES", "Settings"]

ALL_RUNTIMES = (
    "ctypes abs()",
    "torch",
    "torch.compile",
    "AOTInductor",
    "onnxruntime",
    "nnc art(x)",
    "nnc.load",
    SCALAR,
    CTYPES_SCALAR,
    "nnc C",
    "nnc C typed",
    "nnc C scalar",
    "nnc C threads=1",
    "nnc C threads=2",
    "hand C",
    "hand C scalar",
)
NNC_RUNTIMES = tuple(name for name in ALL_RUNTIMES if name.startswith(("nnc", "hand")))


@dataclass(frozen=True)
class Settings:
    """How long and how often to measure, and on which runtimes."""

    repeats: int = 11
    batch: int = 65_536
    single_seconds: float = 0.05  # one repeat of a single-sample timer lasts about this long
    batch_seconds: float = 0.2  # and of a batch timer (at least one call)
    runtimes: tuple[str, ...] = ALL_RUNTIMES
    columns: tuple[int, int] = (65_536, 1_000_000)  # pairs per column-loop call: cache, memory
    clock: str = "wall"  # "wall", or "cpu": this thread's CPU time (a machine shared with others)
