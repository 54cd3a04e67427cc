"""A library's C entry points as Python callables, through cffi in ABI mode (no compiler needed).

Function pointers are cast from addresses, so code JIT-compiled in this process and a `.so` opened
from disk are called the same way. cffi rather than ctypes: a call through a cffi pointer costs
what a bare ctypes call of libc's abs() costs, where ctypes spends 1.5-2x that on two int64
arguments; measured by benchmarks/run.py (see benchmarks/README.md). One numpy sample and a
float64 batch skip cffi: calling.py hands the addresses to the compiled shim `_direct_call`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cffi
import numpy as np

from .abi import C_TYPES, Abi

__all__ = [
    "Entries",
    "address",
    "bind",
    "double_pointer",
    "eval_batch_pointer",
    "typed_pointer",
]

_FFI = cffi.FFI()
_EVAL = _FFI.typeof("int(*)(const double *, double *)")
_EVAL_BATCH = _FFI.typeof("int(*)(int64_t, const double *, double *)")
_EVAL_F32 = _FFI.typeof("int(*)(const float *, float *)")
_DOUBLES = _FFI.typeof("double[]")
_AUTOMATON = (  # NAME_string, NAME_step, NAME_decision
    _FFI.typeof("int64_t(*)(int64_t, const int64_t *)"),
    _FFI.typeof("int32_t(*)(int32_t, int64_t)"),
    _FFI.typeof("int64_t(*)(int32_t)"),
)


@dataclass(frozen=True)
class Entries:
    """The callable entry points of one library; `keepalive` owns the code they point into."""

    eval: Any  # int (const double *x, double *y): one sample
    eval_batch: Any  # int (int64_t n, const double *x, double *y)
    scalar: Any | None  # NAME(a, b, ...), when the Abi has a scalar form
    columns: dict[str, Any]  # "i32" → NAME_batch_i32(n, a, b, ..., out), ...
    keepalive: Any
    automaton: tuple[Any, Any, Any] | None = None  # NAME_string, NAME_step, NAME_decision
    eval_f32: Any | None = None  # int (const float *x, float *y), when the rows are float32
    # NAME_eval_batch_SUFFIX(n, x, y) in the network's own types, when it has typed rows
    eval_batch_typed: Any | None = None


def bind(abi: Abi, address_of: Callable[[str], int], keepalive: Any) -> Entries:
    """Cast every entry point the Abi declares; `address_of(symbol)` finds it in the code."""
    scalar = None
    if abi.scalar is not None and abi.scalar_args is not None:
        params = ", ".join(a.c_type for a in abi.scalar_args) or "void"
        scalar = _FFI.cast(f"{abi.scalar_result}(*)({params})", address_of(abi.scalar))
    columns = {}
    for suffix in abi.columns:
        element = C_TYPES[suffix]
        params = ", ".join([f"const {element} *"] * len(abi.scalar_args or ()) + [f"{element} *"])
        columns[suffix] = _FFI.cast(
            f"int(*)(int64_t, {params})", address_of(abi.column_entry(suffix))
        )
    automaton = None
    if abi.automaton is not None:
        names = (abi.string_entry, abi.step_entry, abi.decision_entry)
        automaton = tuple(_FFI.cast(t, address_of(n)) for t, n in zip(_AUTOMATON, names))
    eval_f32 = eval_batch_typed = None
    if abi.rows == "f32":
        eval_f32 = _FFI.cast(_EVAL_F32, address_of(abi.typed_eval("f32")))
    if abi.row_kinds is not None:
        x, y = (C_TYPES[kind] for kind in abi.row_kinds)
        eval_batch_typed = _FFI.cast(
            f"int(*)(int64_t, const {x} *, {y} *)",
            address_of(abi.typed_eval_batch(abi.rows)),
        )
    return Entries(
        _FFI.cast(_EVAL, address_of(abi.eval)),
        eval_batch_pointer(address_of(abi.eval_batch)),
        scalar,
        columns,
        keepalive,
        automaton,
        eval_f32,
        eval_batch_typed,
    )


def eval_batch_pointer(address: int) -> Any:
    """A function with NAME_eval_batch's signature at `address`: int (n, const double *x, y)."""
    return _FFI.cast(_EVAL_BATCH, address)


def address(function: Any) -> int:
    """The address a cffi function pointer holds (what the compiled shim `_direct_call` calls)."""
    return int(_FFI.cast("uintptr_t", function))


def double_pointer(array: np.ndarray) -> Any:
    """A `double *` into a C-contiguous float64 array (the caller checks both: cffi would take
    any buffer's bytes)."""
    return _FFI.from_buffer(_DOUBLES, array)


def typed_pointer(array: np.ndarray, suffix: str) -> Any:
    """A pointer of the column type `suffix` ("i32", ...) into a C-contiguous array of that type."""
    return _FFI.from_buffer(f"{C_TYPES[suffix]}[]", array)
