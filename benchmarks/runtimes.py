"""The runtimes a workload is measured on, each as timers plus its batch output (to cross-check).

Every runtime gets the same samples: one sample for the single-call timer (a batch of one where the
runtime only takes batches), the whole batch for the batch timer. torch and ONNX Runtime get float32
(or int64) tensors, nnc's Python callables numpy in the input's own dtype, the C loops float64.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from nnc.backends.abi import Abi

from .aoti import BuildError, build_packages
from .c_driver import Driver
from .measure import Timer, clock_ns

__all__ = [
    "SINGLE_SAMPLES",
    "THREADS",
    "Inputs",
    "Runtime",
    "Skipped",
    "aot_inductor",
    "c_loops",
    "ctypes_floor",
    "ctypes_scalar",
    "nnc_python",
    "nnc_scalar",
    "onnx_runtime",
    "torch_compiled",
    "torch_eager",
]

SINGLE_SAMPLES = 1024  # the single-call C loops cycle through this many samples
THREADS = 2  # the threaded entry is timed with one thread and with this many


@dataclass
class Inputs:
    """The same batch of samples in the form each runtime takes."""

    native: np.ndarray  # (n, *shape), int64 or float64: nnc's Python callables
    flat: np.ndarray  # (n, numel) float64, C-contiguous: the C ABI
    tensor: torch.Tensor  # int64 or float32: torch
    array: np.ndarray  # the tensor's numpy twin: ONNX Runtime

    @classmethod
    def of(cls, native: np.ndarray, integer: bool) -> Inputs:
        tensor = torch.from_numpy(native).to(torch.int64 if integer else torch.float32).contiguous()
        flat = np.ascontiguousarray(native.reshape(len(native), -1), dtype=np.float64)
        return cls(native, flat, tensor, tensor.numpy())

    def __len__(self) -> int:
        return len(self.native)


@dataclass
class Runtime:
    """Timers for one sample and for the batch (None: not applicable), and the batch's output."""

    name: str
    single: Timer | None
    batch: Timer | None
    output: Callable[[], np.ndarray] | None  # (n, -1) float64
    note: str = ""


@dataclass
class Skipped:
    """A runtime that could not be built here, and why (printed and kept in the results)."""

    name: str
    reason: str


def python_timer(
    call: Callable[[], Any], context: Callable[[], Any] = contextlib.nullcontext
) -> Timer:
    """k calls of `call` in a bare loop, timed with the run's clock (measure.use_clock)."""

    def timer(calls: int) -> float:
        with context():
            start = clock_ns()
            for _ in itertools.repeat(None, calls):
                call()
            return (clock_ns() - start) / calls

    return timer


def ctypes_floor() -> Runtime:
    """A ctypes call of libc's abs(): the least any Python call into native code costs."""
    libc = ctypes.CDLL(None)
    absolute = libc.abs
    absolute.argtypes, absolute.restype = [ctypes.c_int], ctypes.c_int
    return Runtime(
        "ctypes abs()",
        python_timer(lambda: absolute(-5)),
        None,
        None,
        "libc abs() through ctypes: the floor of a Python call",
    )


def torch_eager(model: torch.nn.Module, inputs: Inputs) -> Runtime:
    one = inputs.tensor[:1]
    return Runtime(
        "torch",
        python_timer(lambda: model(one), torch.inference_mode),
        python_timer(lambda: model(inputs.tensor), torch.inference_mode),
        _torch_output(model, inputs),
        f"eager, {torch.get_num_threads()} thread(s)",
    )


def torch_compiled(model: torch.nn.Module, inputs: Inputs) -> Runtime | Skipped:
    """torch.compile (inductor, static shapes: one graph for batch 1, one for the batch)."""
    start = time.perf_counter()
    try:
        compiled = torch.compile(model, dynamic=False)
        with torch.inference_mode():
            compiled(inputs.tensor[:1])
            compiled(inputs.tensor)
    except Exception as error:  # noqa: BLE001 - inductor fails in many ways without a compiler
        return Skipped("torch.compile", f"failed to build: {_first_line(error)}")
    one = inputs.tensor[:1]
    return Runtime(
        "torch.compile",
        python_timer(lambda: compiled(one), torch.inference_mode),
        python_timer(lambda: compiled(inputs.tensor), torch.inference_mode),
        _torch_output(compiled, inputs),
        f"built in {time.perf_counter() - start:.1f} s",
    )


def aot_inductor(model: torch.nn.Module, inputs: Inputs, folder: Path) -> Runtime | Skipped:
    """AOTInductor (torch.export, aoti_compile_and_package): one package for batch 1, one for the
    batch, built in `folder`; skipped when export or the build fails or runs past the limit."""
    start = time.perf_counter()
    one = inputs.tensor[:1]
    try:
        single, batch = build_packages(model, [one, inputs.tensor], folder)
    except BuildError as error:
        return Skipped("AOTInductor", str(error))
    return Runtime(
        "AOTInductor",
        python_timer(lambda: single(one), torch.inference_mode),
        python_timer(lambda: batch(inputs.tensor), torch.inference_mode),
        _torch_output(batch, inputs),
        f"built in {time.perf_counter() - start:.1f} s",
    )


def onnx_runtime(model: torch.nn.Module, inputs: Inputs, path: Path) -> Runtime | Skipped:
    """ONNX Runtime, CPU provider, one intra-op and one inter-op thread."""
    try:
        import onnxruntime as ort
    except ImportError as error:
        return Skipped("onnxruntime", f"not installed: {error}")
    try:
        exporter = _export_onnx(model, inputs.tensor[:2], path)
    except RuntimeError as error:
        return Skipped("onnxruntime", str(error))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    one, batch = {name: inputs.array[:1]}, {name: inputs.array}
    return Runtime(
        "onnxruntime",
        python_timer(lambda: session.run(None, one)),
        python_timer(lambda: session.run(None, batch)),
        lambda: _as_rows(session.run(None, batch)[0]),
        f"1 thread, {exporter}",
    )


def nnc_python(
    name: str, function: Callable[[np.ndarray], Any], inputs: Inputs, note: str
) -> Runtime:
    """nnc's Python callable (the JIT artifact or nnc.load): one sample, then the batch."""
    one = inputs.native[0]
    return Runtime(
        name,
        python_timer(lambda: function(one)),
        python_timer(lambda: function(inputs.native)),
        lambda: _as_rows(function(inputs.native)),
        note,
    )


def nnc_scalar(name: str, art: Any, abi: Abi, inputs: Inputs) -> Runtime | Skipped:
    """The scalar entry from Python, art.scalar(a, b, ...), on the first sample's free elements."""
    if abi.scalar_args is None:
        return Skipped(name, "no scalar form: the output is not one value of scalar arguments")
    args = _scalar_arguments(abi, inputs)
    return Runtime(
        name,
        python_timer(lambda: art.scalar(*args)),
        None,
        None,
        f"art.scalar({', '.join(a.name for a in abi.scalar_args)}) with Python numbers",
    )


def ctypes_scalar(name: str, library: Path, abi: Abi, inputs: Inputs) -> Runtime | Skipped:
    """The same scalar entry through ctypes (argtypes and restype set): what nnc's cffi call path
    is measured against when choosing it."""
    if abi.scalar_args is None or abi.scalar is None:
        return Skipped(name, "no scalar form: the output is not one value of scalar arguments")
    types = {"int64_t": ctypes.c_int64, "double": ctypes.c_double}
    function = getattr(ctypes.CDLL(str(library)), abi.scalar)
    function.argtypes = [types[a.c_type] for a in abi.scalar_args]
    function.restype = types[abi.scalar_result]
    args = _scalar_arguments(abi, inputs)
    return Runtime(
        name,
        python_timer(lambda: function(*args)),
        None,
        None,
        f"{abi.scalar}(...) from {library.name} through ctypes",
    )


def _scalar_arguments(abi: Abi, inputs: Inputs) -> list[int | float]:
    row = inputs.flat[0]
    return [
        int(row[a.position]) if a.integer else float(row[a.position]) for a in abi.scalar_args or ()
    ]


def c_loops(label: str, driver: Driver, inputs: Inputs) -> list[Runtime]:
    """The library called from C: NAME_eval / NAME_eval_batch, and the scalar entry if any."""
    n, m = len(inputs), min(SINGLE_SAMPLES, len(inputs))
    x = inputs.flat
    y_eval = np.empty((n, driver.abi.output.numel))
    y_scalar = np.empty_like(y_eval)

    def batch_output() -> np.ndarray:
        driver.batch(x, y_eval, 1)
        return y_eval.copy()

    def scalar_output() -> np.ndarray:
        driver.scalar(n, x, y_scalar, n)
        return y_scalar.copy()

    runtimes = [
        Runtime(
            f"{label} C",
            lambda k: driver.eval(m, x, y_eval, k),
            lambda k: driver.batch(x, y_eval, k),
            batch_output,
            f"{driver.abi.prefix}_eval / _eval_batch from a C loop",
        )
    ]
    if driver.has_scalar:
        runtimes.append(
            Runtime(
                f"{label} C scalar",
                lambda k: driver.scalar(m, x, y_scalar, k),
                lambda k: driver.scalar(n, x, y_scalar, k * n) * n,
                scalar_output,
                f"{driver.abi.prefix}(...) from a C loop",
            )
        )
    if driver.rows is not None:
        runtimes.append(_typed_loops(label, driver, inputs))
    if driver.threaded:
        runtimes += [_threaded_loop(label, driver, inputs, t) for t in (1, THREADS)]
    return runtimes


def _typed_loops(label: str, driver: Driver, inputs: Inputs) -> Runtime:
    """NAME_eval_<t> / NAME_eval_batch_<t>: rows in the network's own types (no doubles)."""
    n, m = len(inputs), min(SINGLE_SAMPLES, len(inputs))
    x_dtype, y_dtype = driver.row_dtypes()
    x = np.ascontiguousarray(inputs.flat.astype(x_dtype))  # tokens are exact in double
    y = np.empty((n, driver.abi.output.numel), y_dtype)

    def output() -> np.ndarray:
        driver.typed_batch(x, y, 1)
        return y.astype(np.float64)

    return Runtime(
        f"{label} C typed",
        lambda k: driver.typed_eval(m, x, y, k),
        lambda k: driver.typed_batch(x, y, k),
        output,
        f"{driver.abi.prefix}_eval_{driver.rows} / _eval_batch_{driver.rows} from a C loop",
    )


def _threaded_loop(label: str, driver: Driver, inputs: Inputs, threads: int) -> Runtime:
    """NAME_eval_batch_threads with `threads` threads, timed by the wall clock whatever the run's
    clock (threads computing at once are the point)."""
    y = np.empty((len(inputs), driver.abi.output.numel))

    def output() -> np.ndarray:
        driver.threads(inputs.flat, y, 1, threads)
        return y.copy()

    return Runtime(
        f"{label} C threads={threads}",
        None,
        lambda k: driver.threads(inputs.flat, y, k, threads),
        output,
        f"{driver.abi.prefix}_eval_batch_threads(..., {threads}) from a C loop, wall clock",
    )


def _export_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path) -> str:
    """Export with a dynamic batch axis: the TorchScript exporter, else the dynamo one."""
    errors = []
    for dynamo in (False, True):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    model,
                    (example,),
                    str(path),
                    input_names=["x"],
                    output_names=["y"],
                    dynamic_axes={"x": {0: "n"}, "y": {0: "n"}},
                    dynamo=dynamo,
                )
            return "dynamo exporter" if dynamo else "TorchScript exporter"
        except Exception as error:  # noqa: BLE001 - exporters raise anything
            errors.append(f"{'dynamo' if dynamo else 'TorchScript'} exporter: {_first_line(error)}")
    raise RuntimeError("torch.onnx.export failed: " + "; ".join(errors))


def _torch_output(
    model: Callable[[torch.Tensor], torch.Tensor], inputs: Inputs
) -> Callable[[], np.ndarray]:
    def output() -> np.ndarray:
        with torch.inference_mode():
            return _as_rows(model(inputs.tensor).numpy())

    return output


def _as_rows(values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    return array.reshape(len(array), -1)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]
