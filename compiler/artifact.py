"""Artifact: the compiled model — callable, inspectable, verifiable, and savable as a C library."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nnc.backends import get_backend
from nnc.backends.abi import Abi, ScalarArg, TensorInfo, check_prefix
from nnc.backends.aot import check_output_path, write_atomically
from nnc.backends.calling import NativeFunction
from nnc.backends.closed_forms import fits_int32
from nnc.backends.header import render_header

from .errors import error_context
from .graph import Graph
from .ops import Op, is_integer_dtype
from .options import Options
from .report import Report
from .spec import InputSpec
from .version import __version__

__all__ = ["JIT_PREFIX", "MAX_SCALAR_ARGS", "Artifact", "make_abi"]

MAX_SCALAR_ARGS = 32  # beyond this many free input elements there is no scalar entry point
JIT_PREFIX = "nnc"


class Artifact:
    """The result of nnc.compile: call it on numpy arrays or torch tensors, or save it."""

    def __init__(
        self,
        graph: Graph,
        specs: Sequence[InputSpec],
        options: Options,
        report: Report,
        native: NativeFunction,
    ) -> None:
        self.graph = graph
        self.specs = list(specs)
        self.options = options
        self.report = report
        self._backend = get_backend("llvm", options.cpu)
        self._native = native  # the JIT-compiled graph, already verified

    def __call__(self, *inputs: Any) -> Any:
        """Run the compiled code on one sample (input shapes as specified) or a batch (n, ...)."""
        return self._native(*inputs)

    def columns(self, *arrays: Any) -> Any:
        """Column-wise call in native types (one 1-D array per scalar argument): int32 arrays go
        through NAME_batch_i32 without copies, and so on; see the header's _batch_ entries."""
        return self._native.columns(*arrays)

    def __repr__(self) -> str:
        return f"<nnc.Artifact {self.options.mode} {self.report.fidelity.summary()}>"

    def abi(self, prefix: str) -> Abi:
        return make_abi(check_prefix(prefix), self.graph, self.specs, self.metadata(prefix))

    def metadata(self, prefix: str) -> dict[str, Any]:
        """What the library says about itself: version, inputs, output, verification."""
        output = self.graph[self.graph.outputs[0]]
        return {
            "nnc_version": __version__,
            "name": prefix,
            "mode": self.options.mode,
            "closed_form": self.report.closed_form,
            "inputs": [s.to_json() for s in self.specs],
            "output": {
                **self.options.output.to_json(),
                "shape": list(output.shape[1:]),
                "dtype": output.dtype,
            },
            "verification": self.report.fidelity.to_json(),
            "abi": _abi_json(self.graph, self.specs),
        }

    @property
    def expressions(self) -> list[Any]:
        """One sympy expression per output element: the closed forms nnc found, or the exact
        form of a faithful network when it is small enough to print; None where it is not."""
        from nnc.passes.lower import symbolic_outputs

        from .closed_form import output_forms

        parts = output_forms(self.graph)
        if parts is not None:
            return [p.attrs["expr"] if p.op.value == "expr" else None for p in parts]
        names = {
            name: [e.name for e in spec.elements]
            for name, spec in zip(self.graph.inputs, self.specs)
        }
        node = self.graph[self.graph.outputs[0]]
        return symbolic_outputs(self.graph, names) or [None] * max(1, node.numel)

    def latex(self) -> list[str | None]:
        """The expressions as LaTeX."""
        import sympy

        return [sympy.latex(e) if e is not None else None for e in self.expressions]

    def c_code(self) -> list[str | None]:
        """The expressions as C, the way the library computes them."""
        import sympy

        return [sympy.ccode(e) if e is not None else None for e in self.expressions]

    def llvm_ir(self, optimized: bool = False) -> str:
        return self._backend.ir(self.graph, self.abi(JIT_PREFIX), optimized)

    def save(self, path: str | Path, name: str | None = None, header: bool = True) -> Path:
        """Write the shared library `path` and, beside it, the C header (same stem, `.h`)."""
        path = Path(path)
        check_output_path(path)
        prefix = check_prefix(name or path.name.split(".")[0])
        abi = self.abi(prefix)
        with error_context(f"writing {path.name}"):
            self._backend.write(self.graph, abi, path)
            if header:
                write_atomically(path.with_suffix(".h"), render_header(abi).encode())
        return path


def _abi_json(graph: Graph, specs: Sequence[InputSpec]) -> dict[str, Any]:
    abi = make_abi("x", graph, specs, {})
    return {
        "inputs": [{"name": i.name, "shape": list(i.shape), "dtype": i.dtype} for i in abi.inputs],
        "output": {"shape": list(abi.output.shape), "dtype": abi.output.dtype},
        "scalar": [a.name for a in abi.scalar_args] if abi.scalar_args is not None else None,
    }


def make_abi(
    prefix: str, graph: Graph, specs: Sequence[InputSpec], metadata: dict[str, Any]
) -> Abi:
    """The C interface of this graph: per-sample shapes (the traced batch dimension dropped)."""
    inputs = tuple(TensorInfo(s.name, s.shape, s.dtype) for s in specs)
    node = graph[graph.outputs[0]]
    output = TensorInfo("y", node.shape[1:], node.dtype)
    free, constants, position = [], [], 0
    for spec in specs:
        for element in spec.elements or ():
            if element.constant is not None and spec.calibration is None:
                constants.append((position, element.constant))
            else:
                free.append(ScalarArg(element.name, position, spec.integer))
            position += 1
    scalar = math.prod(output.shape) == 1 and len(free) <= MAX_SCALAR_ARGS
    integer = is_integer_dtype(node.dtype)
    columns = _column_types(free, integer, specs, node) if scalar else ()
    return Abi(
        prefix,
        inputs,
        output,
        integer,
        tuple(free) if scalar else None,
        tuple(constants),
        metadata,
        columns,
    )


def _column_types(
    free: list[ScalarArg], integer_output: bool, specs: Sequence[InputSpec], node: Any
) -> tuple[str, ...]:
    """Typed column-wise entries that fit: int32/int64 for integer programs (int32 only when the
    domain and the output provably fit), float/double for real-valued ones."""
    if free and all(a.integer for a in free) and integer_output:
        bounds = [
            (e.domain.lo, e.domain.hi)
            if hasattr(e.domain, "lo")
            else (min(e.domain.values), max(e.domain.values))
            for spec in specs
            for e in spec.elements
        ]
        small_inputs = all(-(2**31) <= lo and hi < 2**31 for lo, hi in bounds)
        small_output = (
            node.op is Op.ARGMAX
            or (
                node.op is Op.EXPR
                and fits_int32(node.attrs["expr"], node.attrs.get("bounds") or {})
            )
            or node.dtype == "bool"
        )
        return ("i32", "i64") if small_inputs and small_output else ("i64",)
    if free and not any(a.integer for a in free) and not integer_output:
        return ("f32", "f64")
    return ()
