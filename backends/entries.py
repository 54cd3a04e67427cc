"""Every row entry point of a built library as a runner over flat double rows, so that what ships
can be verified entry by entry: NAME_eval one sample at a time, NAME_eval_batch, its threaded twin,
and the typed rows (inputs and outputs converted with numpy around the call)."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

import numpy as np
from nnc.errors import BackendError

from .abi import Abi

__all__ = ["EntryRunner", "entry_runners"]

_NUMPY = {"f32": np.float32, "f64": np.float64, "i64": np.int64}
VERIFY_THREADS = 2  # the threaded entries are checked with this many threads
ONE_AT_A_TIME = 256  # points the one-sample entries are checked on (a call per point)


@dataclass
class EntryRunner:
    """One exported row entry: `run(x)` takes (n, input size) doubles, returns (n, output size)."""

    symbol: str
    function: Any  # the ctypes function
    x_dtype: type
    y_dtype: type
    output_numel: int
    kind: str  # "one" (a sample per call), "batch", "threads"

    @property
    def limit(self) -> int | None:
        """How many of the verification points to check it on (None: all)."""
        return ONE_AT_A_TIME if self.kind == "one" else None

    def run(self, x: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(x, dtype=self.x_dtype)
        y = np.zeros((len(rows), self.output_numel), self.y_dtype)
        if self.kind == "one":
            status = max(
                (self.function(r.ctypes.data, o.ctypes.data) for r, o in zip(rows, y)), default=0
            )
        elif self.kind == "threads":
            status = self.function(len(rows), rows.ctypes.data, y.ctypes.data, VERIFY_THREADS)
        else:
            status = self.function(len(rows), rows.ctypes.data, y.ctypes.data)
        if status != 0:
            raise BackendError(f"{self.symbol} returned {status} on {len(rows)} samples")
        return y.astype(np.float64)


def entry_runners(library: ctypes.CDLL, abi: Abi) -> list[EntryRunner]:
    """The row entries `library` exports for `abi`, each as a runner."""
    kinds = [("f64", "f64", abi.eval, abi.eval_batch)]
    if abi.row_kinds is not None:
        kinds.append((*abi.row_kinds, abi.typed_eval(abi.rows), abi.typed_eval_batch(abi.rows)))
    runners = []
    for x_kind, y_kind, one, batch in kinds:
        x_dtype, y_dtype = _NUMPY[x_kind], _NUMPY[y_kind]
        for symbol, kind, arguments in (
            (one, "one", [ctypes.c_void_p] * 2),
            (batch, "batch", [ctypes.c_int64] + [ctypes.c_void_p] * 2),
            (
                abi.threaded(batch),
                "threads",
                [ctypes.c_int64] + [ctypes.c_void_p] * 2 + [ctypes.c_int32],
            ),
        ):
            function = getattr(library, symbol)
            function.argtypes, function.restype = arguments, ctypes.c_int
            runners.append(EntryRunner(symbol, function, x_dtype, y_dtype, abi.output.numel, kind))
    return runners
