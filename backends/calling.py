"""The Python face of a compiled library: numpy or torch arrays in, the same kind out.

Shared by the JIT and by `nnc.load`; imports neither torch nor llvmlite, so a loaded `.so`
works in a process where torch is not installed.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any

import numpy as np
from nnc.errors import BackendError, InputError

from .abi import TensorInfo

__all__ = ["EVAL_BATCH_TYPE", "NativeFunction", "column_type"]

EVAL_BATCH_TYPE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p)
_OUTPUT_DTYPES = {"argmax": np.int64, "threshold": np.bool_}
_COLUMN_DTYPES = {"i32": np.int32, "i64": np.int64, "f32": np.float32, "f64": np.float64}


def column_type(arguments: int) -> Any:
    """ctypes prototype of NAME_batch_<t>(n, column..., out)."""
    return ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int64, *[ctypes.c_void_p] * (arguments + 1))


class NativeFunction:
    """Calls `NAME_eval_batch` on one sample (input shapes as declared) or a batch (n, *shape)."""

    def __init__(
        self,
        eval_batch: Any,
        inputs: Sequence[TensorInfo],
        output: TensorInfo,
        semantics: str,
        keepalive: Any = None,
        column_entries: dict[str, Any] | None = None,
    ) -> None:
        self._eval_batch = eval_batch
        self._columns = column_entries or {}  # "i32" → NAME_batch_i32, ...
        self.inputs = tuple(inputs)
        self.output = output
        self.semantics = semantics
        self._keepalive = keepalive  # the JIT engine or CDLL that owns the code

    def __call__(self, *args: Any) -> Any:
        if len(args) != len(self.inputs):
            names = ", ".join(i.name for i in self.inputs)
            raise InputError(
                f"the artifact takes {len(self.inputs)} input(s) ({names}), got {len(args)}"
            )
        as_torch = any(type(a).__module__.startswith("torch") for a in args)
        arrays = [_to_numpy(a) for a in args]
        batched, n = self._batch_size(arrays)
        if len(arrays) == 1 and arrays[0].dtype == np.float64 and arrays[0].flags.c_contiguous:
            x = arrays[0].reshape(n, -1)  # already the ABI's layout: no copy
        else:
            x = np.empty((n, sum(i.numel for i in self.inputs)), dtype=np.float64)
            start = 0
            for info, array in zip(self.inputs, arrays):
                x[:, start : start + info.numel] = array.reshape(n, info.numel)
                start += info.numel
        y = self.run(x)
        out = y.reshape(n, *self.output.shape).astype(self._output_dtype())
        out = out if batched else out[0]
        if as_torch:
            import torch  # the caller passed tensors, so torch is there

            return torch.from_numpy(np.ascontiguousarray(out))
        return out

    def run(self, x: np.ndarray) -> np.ndarray:
        """Raw call: x (n, input_numel) float64 → y (n, output_numel) float64."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        y = np.empty((len(x), self.output.numel), dtype=np.float64)
        status = self._eval_batch(
            len(x), x.__array_interface__["data"][0], y.__array_interface__["data"][0]
        )
        _check_status(status, len(x))
        return y

    def columns(self, *arrays: Any) -> np.ndarray:
        """Column-wise call through the typed entry matching the arrays' dtype (int32 → _i32, ...):
        one 1-D array per scalar argument, no copies when they are contiguous and of that type."""
        if not self._columns:
            raise InputError(
                "this artifact has no column-wise entries",
                hint="they exist when every input element is a scalar argument of "
                "one kind (all integer or all real)",
            )
        columns = [np.asarray(a) for a in arrays]
        kind = columns[0].dtype
        suffix = {
            np.dtype(np.int32): "i32",
            np.dtype(np.int64): "i64",
            np.dtype(np.float32): "f32",
            np.dtype(np.float64): "f64",
        }.get(kind)
        if suffix not in self._columns:
            suffix = "i64" if "i64" in self._columns else "f64"
        dtype = _COLUMN_DTYPES[suffix]
        columns = [np.ascontiguousarray(c, dtype=dtype) for c in columns]
        if len({len(c) for c in columns}) > 1 or any(c.ndim != 1 for c in columns):
            raise InputError("columns must be 1-D arrays of one length")
        out = np.empty(len(columns[0]), dtype=dtype)
        status = self._columns[suffix](len(out), *[c.ctypes.data for c in columns], out.ctypes.data)
        _check_status(status, len(out))
        return out

    def _batch_size(self, arrays: list[np.ndarray]) -> tuple[bool, int]:
        sizes = set()
        for info, array in zip(self.inputs, arrays):
            if array.shape == info.shape:
                sizes.add(None)
            elif array.shape[1:] == info.shape and array.ndim == len(info.shape) + 1:
                sizes.add(array.shape[0])
            else:
                raise InputError(
                    f"input {info.name!r} has shape {array.shape}; the artifact takes "
                    f"{info.shape} for one sample or (n, {', '.join(map(str, info.shape))}) "
                    "for a batch",
                    hint="reshape the array, or check the --input spec the artifact was built with",
                )
        if len(sizes) > 1:
            raise InputError(
                "inputs mix single samples and batches, or batches of different "
                f"sizes ({sorted(s for s in sizes if s is not None)})"
            )
        (size,) = sizes
        return (size is not None, 1 if size is None else size)

    def _output_dtype(self) -> Any:
        return _OUTPUT_DTYPES.get(self.semantics, np.dtype(self.output.dtype))


def _check_status(status: int, n: int) -> None:
    """An entry's return value: 0 ok, k > 0 samples outside the verified domain (they hold the
    sentinel), < 0 a failure of the call itself."""
    if status > 0:
        raise InputError(
            f"{status} of {n} samples lie outside the domain the code was verified on (their "
            "outputs would be NaN, or -1 for classes and integers)",
            hint="keep the inputs within the input spec, or compile with outside='clamp' (into "
            "the domain's box) or outside='allow' (no check)",
        )
    if status < 0:
        meaning = {-1: "a negative sample count", -2: "out of memory"}.get(status, "unknown")
        raise BackendError(f"the compiled function returned status {status} ({meaning})")


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise InputError(f"inputs must be numeric arrays, got dtype {array.dtype}")
    return array
