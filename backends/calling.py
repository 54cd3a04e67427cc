"""The Python face of a compiled library: numpy or torch arrays in, the same kind out.

Shared by the JIT and by `nnc.load`; imports neither torch nor llvmlite, so a loaded `.so` works in
a process where torch is not installed. Everything that does not depend on the arguments (entry
points, shapes, the output dtype) is prepared once. One plain numpy sample and a float64 C-contiguous
batch go to C through the compiled shim `_direct_call` (built when nnc is installed); a batch in the
network's own row types goes straight to its typed entry; anything else takes the general path,
which converts dtypes and layouts and names what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from nnc.errors import BackendError, InputError

from .abi import Abi
from .binding import Entries, address, double_pointer, typed_pointer

try:  # built at install (pyproject.toml); without it, every call takes the general path
    from ._direct_call import DirectCall
except ImportError:  # pragma: no cover - an install without a C compiler
    DirectCall = None

__all__ = ["DirectCall", "NativeAutomaton", "NativeFunction"]

_OUTPUT_DTYPES = {"argmax": np.int64, "threshold": np.bool_}
_COLUMN_DTYPES = {"i32": np.int32, "i64": np.int64, "f32": np.float32, "f64": np.float64}
_COLUMN_SUFFIXES = {np.dtype(dtype): suffix for suffix, dtype in _COLUMN_DTYPES.items()}
# the output element kinds _direct_call.c writes (enum output_kind)
_DIRECT_OUTPUT_KINDS = {
    np.dtype(d): k for k, d in enumerate((np.float64, np.float32, np.int64, bool))
}


class NativeAutomaton:
    """A compiled automaton's own entries: the decision after a whole string of any length, or
    one token at a time from `start` (`step`, then `decision`); -1 marks a token outside the
    alphabet (and every state after it)."""

    start = 0

    def __init__(self, string: Any, step: Any, decision: Any) -> None:
        self._string, self._step, self._decision = string, step, decision

    def __call__(self, tokens: Any) -> int:
        """The decision after the whole string (a 1-D sequence of tokens)."""
        array = np.ascontiguousarray(_to_numpy(tokens), dtype=np.int64).reshape(-1)
        return int(self._string(len(array), typed_pointer(array, "i64")))

    def step(self, state: int, token: int) -> int:
        return int(self._step(state, token))

    def decision(self, state: int) -> int:
        return int(self._decision(state))


class NativeFunction:
    """Calls the library on one sample (input shapes as declared) or a batch (n, *shape); `.scalar`
    is the scalar entry NAME(a, b, ...) when the library has one; `.columns` the typed columns."""

    def __init__(self, abi: Abi, entries: Entries, semantics: str) -> None:
        self.abi = abi
        self.inputs = abi.inputs
        self.output = abi.output
        # the automaton's own entries, when the model is one
        self.automaton = NativeAutomaton(*entries.automaton) if entries.automaton else None
        self.semantics = semantics
        self._entries = entries
        # the typed row entry's element kinds and dtypes (x, y), when the library has one
        self._row_kinds = abi.row_kinds if entries.eval_batch_typed is not None else None
        self._row_dtypes = tuple(np.dtype(_COLUMN_DTYPES[k]) for k in self._row_kinds or ())
        self._dtype = np.dtype(_OUTPUT_DTYPES.get(semantics, abi.output.dtype))
        self._direct = _direct_call(abi, entries, self._dtype)
        # an instance attribute, not a method: `art.scalar(3, 5)` is one Python call into C
        self.scalar: Callable[..., int | float] = _scalar_call(abi, entries.scalar)

    def __call__(self, *args: Any) -> Any:
        y = self._direct(*args)  # None unless args are one plain sample or float64 batch
        return self._call(args) if y is None else y

    def run(self, x: np.ndarray) -> np.ndarray:
        """Raw call: x (n, input_numel) float64 → y (n, output_numel) float64."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        y = np.empty((len(x), self.output.numel), dtype=np.float64)
        if len(x):
            status = self._entries.eval_batch(len(x), double_pointer(x), double_pointer(y))
            _check_status(status, len(x))
        return y

    def columns(self, *arrays: Any) -> np.ndarray:
        """Column-wise call through the typed entry matching the arrays' dtype (int32 → _i32, ...):
        one 1-D array per scalar argument, no copies when they are contiguous and of that type."""
        entries = self._entries.columns
        if not entries:
            raise InputError(
                "this artifact has no column-wise entries",
                hint="they exist when every input element is a scalar argument of "
                "one kind (all integer or all real)",
            )
        count = len(self.abi.scalar_args or ())
        if len(arrays) != count:
            raise InputError(f"columns() takes {count} arrays, one per scalar argument")
        columns = [np.asarray(a) for a in arrays]
        suffix = _COLUMN_SUFFIXES.get(columns[0].dtype)
        if suffix not in entries:
            suffix = "i64" if "i64" in entries else "f64"
        dtype = np.dtype(_COLUMN_DTYPES[suffix])
        columns = [np.ascontiguousarray(c, dtype=dtype) for c in columns]
        if len({len(c) for c in columns}) > 1 or any(c.ndim != 1 for c in columns):
            raise InputError("columns must be 1-D arrays of one length")
        out = np.empty(len(columns[0]), dtype=dtype)
        if len(out):
            pointers = [typed_pointer(c, suffix) for c in (*columns, out)]
            _check_status(entries[suffix](len(out), *pointers), len(out))
        return out

    # --- the general path: any array-likes, batches, torch tensors ----------------------------
    def _call(self, args: Sequence[Any]) -> Any:
        if len(args) != len(self.inputs):
            names = ", ".join(i.name for i in self.inputs)
            raise InputError(
                f"the artifact takes {len(self.inputs)} input(s) ({names}), got {len(args)}"
            )
        as_torch = any(type(a).__module__.startswith("torch") for a in args)
        arrays = [_to_numpy(a) for a in args]
        if as_torch:  # a CPU tensor's numpy view may be a plain sample the shim takes
            direct = self._direct(*arrays)
            if direct is not None:
                return _to_torch(direct)
        batched, n = self._batch_size(arrays)
        typed = self._typed_rows(arrays, n)
        if typed is not None:
            out = typed.reshape(n, *self.output.shape)
        else:
            out = self.run(self._rows(arrays, n)).reshape(n, *self.output.shape)
        if out.dtype != self._dtype:
            out = out.astype(self._dtype)
        out = out if batched else out[0]
        return _to_torch(out) if as_torch else out

    def _typed_rows(self, arrays: list[np.ndarray], n: int) -> np.ndarray | None:
        """The outputs through the typed row entry when the one input already is its rows (int64
        tokens, float32 features, C-contiguous): no conversion to double and back, which cost
        more than the computation of a closed form. None when the call needs the double rows."""
        if self._row_kinds is None or len(arrays) != 1 or n == 0:
            return None
        x = arrays[0]
        if x.dtype != self._row_dtypes[0] or not x.flags.c_contiguous:
            return None
        y = np.empty((n, self.output.numel), dtype=self._row_dtypes[1])
        x_kind, y_kind = self._row_kinds
        status = self._entries.eval_batch_typed(
            n, typed_pointer(x, x_kind), typed_pointer(y, y_kind)
        )
        _check_status(status, n)
        return y

    def _rows(self, arrays: list[np.ndarray], n: int) -> np.ndarray:
        """The inputs as the ABI's rows (n, input_numel) float64: no copy when they already are."""
        width = self.abi.input_numel
        if len(arrays) == 1 and arrays[0].dtype == np.float64 and arrays[0].flags.c_contiguous:
            return arrays[0].reshape(n, width)
        x = np.empty((n, width), dtype=np.float64)
        start = 0
        for info, array in zip(self.inputs, arrays):
            x[:, start : start + info.numel] = array.reshape(n, info.numel)
            start += info.numel
        return x

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


def _direct_call(abi: Abi, entries: Entries, dtype: np.dtype) -> Callable[..., Any]:
    """The C shim for one plain numpy sample or float64 batch, or a stand-in that always defers
    to the general path (no shim built, several inputs, an output dtype it does not write)."""
    kind = _DIRECT_OUTPUT_KINDS.get(dtype)
    if DirectCall is None or len(abi.inputs) != 1 or kind is None or len(abi.inputs[0].shape) > 8:
        return _general_path
    f32 = address(entries.eval_f32) if entries.eval_f32 is not None else 0
    return DirectCall(
        address(entries.eval), f32, address(entries.eval_batch), np.ndarray,
        abi.inputs[0].shape, abi.output.numel, kind, np.empty, abi.output.shape, dtype,
    )  # fmt: skip


def _general_path(*args: Any) -> None:
    return None


def _scalar_call(abi: Abi, function: Any) -> Callable[..., int | float]:
    """NAME(a, b, ...) from Python: numbers in, the number the C function returns out."""
    if function is None:

        def missing(*args: Any) -> int | float:
            raise InputError(
                "this artifact has no scalar form",
                hint="it exists when the output is one value and every free input element "
                "is a scalar argument; call the artifact on arrays instead",
            )

        return missing
    names = ", ".join(a.name for a in abi.scalar_args or ())
    kinds = "integers" if all(a.integer for a in abi.scalar_args or ()) else "numbers"

    def scalar(*args: Any) -> int | float:
        try:
            return function(*args)
        except (TypeError, OverflowError) as error:
            raise InputError(
                f"scalar() takes {len(abi.scalar_args or ())} {kinds} ({names}): {error}",
                hint="pass one Python or numpy number per argument; arrays go through the "
                "artifact's call or columns()",
            ) from None

    return scalar


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


def _to_torch(out: Any) -> Any:
    """The output as a torch tensor sharing its memory (a numpy scalar becomes a 0-d tensor)."""
    import torch  # the caller passed tensors, so torch is there

    return torch.from_numpy(np.asarray(out))


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise InputError(f"inputs must be numeric arrays, got dtype {array.dtype}")
    return array
