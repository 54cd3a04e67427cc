"""Artifact: the compiled model — callable, inspectable, verifiable, and savable as a C library."""

from __future__ import annotations

import ctypes
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from nnc.backends import get_backend
from nnc.backends.abi import ABI_VERSION, Abi, check_prefix, prefix_from_file_name
from nnc.backends.aot import LIBRARY_MODE, Staging, check_output_path, staged_outputs
from nnc.backends.calling import NativeAutomaton, NativeFunction
from nnc.backends.entries import entry_runners
from nnc.backends.header import render_header
from nnc.backends.inline_c import compile_inline, inline_form
from nnc.backends.interface import JIT_PREFIX, abi_json, make_abi

from .closed_form import output_forms
from .domain import Domain, abi_rows
from .errors import BackendError, FidelityError, error_context
from .fidelity import relative_errors
from .graph import Graph
from .options import Options, make_options
from .report import Report
from .spec import InputSpec
from .symbolic import symbolic_outputs
from .verification import VerificationPoints, check_library
from .version import __version__

__all__ = ["INLINE_TOLERANCE", "Artifact"]

# A real-valued inline form against the library: max error relative to the largest output. Only
# rounding separates them (libm vs the vector math of batch loops, FMA contraction by the C
# compiler), far below any fidelity tolerance.
INLINE_TOLERANCE = 1e-9


class Artifact:
    """The result of nnc.compile: call it on numpy arrays or torch tensors (`art(x)`), call its
    scalar form on numbers (`art.scalar(a, b)`), inspect it, or save it as a C library."""

    def __init__(
        self,
        graph: Graph,
        specs: Sequence[InputSpec],
        options: Options,
        report: Report,
        native: NativeFunction,
        points: VerificationPoints | None = None,
    ) -> None:
        self.graph = graph
        self.specs = list(specs)
        self.options = options
        self.report = report
        self._backend = get_backend("llvm", options.cpu, options.precision)
        self._native = native  # the JIT-compiled graph, already verified
        self._points = points  # what a saved library is checked on (None: not checked)
        self.library_checks: dict[str, str] = {}  # entry symbol → its check, after a save
        # NAME(a, b, ...) from Python: one number per free input element, the number it returns
        # (an InputError when the library has no scalar form). An attribute, so a call is one hop.
        self.scalar = native.scalar

    def __call__(self, *inputs: Any) -> Any:
        """Run the compiled code on one sample (input shapes as specified) or a batch (n, ...)."""
        return self._native(*inputs)

    def columns(self, *arrays: Any) -> Any:
        """Column-wise call in native types (one 1-D array per scalar argument): int32 arrays go
        through NAME_batch_i32 without copies, and so on; see the header's _batch_ entries."""
        return self._native.columns(*arrays)

    @property
    def automaton(self) -> NativeAutomaton | None:
        """When the model became a finite automaton: its native entries for strings of any length
        and for one token at a time (`step`, `decision`, from `start`)."""
        return self._native.automaton

    def __repr__(self) -> str:
        return f"<nnc.Artifact {self.options.mode} {self.report.fidelity.summary()}>"

    def abi(self, prefix: str, outside: str | None = None) -> Abi:
        """The library's C interface; `outside` (default: the compile's) as in Options.outside."""
        outside = make_options(outside=outside or self.options.outside).outside
        metadata = self.metadata(prefix, outside)
        return make_abi(check_prefix(prefix), self.graph, self.specs, metadata, outside)

    def metadata(self, prefix: str, outside: str | None = None) -> dict[str, Any]:
        """What the library says about itself: version, inputs, output, verification."""
        output = self.graph[self.graph.outputs[0]]
        return {
            "nnc_version": __version__,
            "abi_version": ABI_VERSION,
            "name": prefix,
            "mode": self.options.mode,
            "outside": outside or self.options.outside,
            "closed_form": self.report.closed_form,
            "inputs": [s.to_json() for s in self.specs],
            "output": {
                **self.options.output.to_json(),
                "shape": list(output.shape[1:]),
                "dtype": output.dtype,
            },
            "verification": self.report.fidelity.to_json(),
            "abi": abi_json(self.graph, self.specs),
            "precision": self.options.precision,
            "cpu": self.options.cpu,
            "working_memory": self._backend.working_memory(
                self.graph, make_abi(prefix, self.graph, self.specs, {})
            ),
        }

    @property
    def expressions(self) -> list[Any]:
        """One sympy expression per output element: the closed forms nnc found, or the exact
        form of a faithful network when it is small enough to print; None where it is not."""
        parts = output_forms(self.graph)
        if parts is not None:
            return [p.attrs["expr"] if p.op.value == "expr" else None for p in parts]
        names = {name: spec.element_names() for name, spec in zip(self.graph.inputs, self.specs)}
        node = self.graph[self.graph.outputs[0]]
        return symbolic_outputs(self.graph, names, self.specs) or [None] * max(1, node.numel)

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

    def save(
        self,
        path: str | Path,
        name: str | None = None,
        header: bool = True,
        staging: Staging | None = None,
        outside: str | None = None,
    ) -> Path:
        """Write the shared library `path` and, beside it, the C header (same stem, `.h`): both or
        neither; for a closed form the header defines NAME_inline too, checked on the
        verification points. The C functions are prefixed `name`, by default the file name made a
        C identifier (`my-model.so` → `my_model_eval`). The library is built apart, loaded, and
        each of its row entries (one sample, batch, threaded batch, typed rows) checked on the
        compile's verification points first: only a library that computes what the network
        computes is written. With `staging`, the files wait for the caller's `staging.commit()`.
        `outside` (check, clamp, allow; default: the compile's option) sets what the library's
        entries do with inputs outside the verified domain: it changes the library, not what was
        verified."""
        path = Path(path)
        check_output_path(path)
        prefix = check_prefix(name) if name is not None else prefix_from_file_name(path.name)
        abi = self.abi(prefix, outside)
        with staged_outputs() as own, error_context(f"writing {path.name}"):
            text = self._header(abi) if header else None
            library = self._backend.library(self.graph, abi)
            self._check_library(library, path.name, abi)
            target = staging or own
            target.write(path, library, LIBRARY_MODE)
            if text is not None:
                target.write(path.with_suffix(".h"), text.encode())
            own.commit()
        return path

    def _check_library(self, library: bytes, file_name: str, abi: Abi) -> None:
        """Every row entry of the linked library against the network (as the JIT was checked)."""
        if self._points is None:
            return
        with tempfile.TemporaryDirectory() as work:
            built = Path(work) / file_name
            built.write_bytes(library)
            entries = entry_runners(ctypes.CDLL(str(built)), abi)
            results = check_library(entries, self.graph, self.specs, self.options, self._points)
        self.library_checks = {symbol: f.summary() for symbol, f in results.items()}
        failed = [f"{symbol}: {f.summary()}" for symbol, f in results.items() if not f.passed]
        if failed and not self.options.accept_mismatch:
            raise FidelityError(
                "the linked library does not compute what the network computes ("
                + "; ".join(failed)
                + ")",
                hint="this is a bug in nnc's code generator; please report it (the JIT passed); "
                "accept_mismatch=True writes it anyway",
            )

    def _header(self, abi: Abi) -> str:
        """The header; with the inline form when there is one, once the system C compiler has built
        it and it agrees with the library on the points the compile was verified on."""
        inline = inline_form(self.graph, abi)
        if inline is None:
            return render_header(abi)
        options = self.options
        points, _ = Domain(self.specs).points(
            options.enumerate_limit, options.samples, options.seed
        )
        rows = abi_rows(points)
        text = render_header(abi, inline, len(rows))
        with tempfile.TemporaryDirectory(prefix="nnc-inline-") as folder:
            got = compile_inline(text, abi, Path(folder))(rows)
        expected = self._native.run(rows)[:, 0]
        mismatch = _disagreement(got, expected, abi.output_integer)
        if mismatch:
            raise BackendError(
                f"the inline C form {inline.name} disagrees with the library: {mismatch}",
                hint="this is a bug in nnc's C emitter; save(..., header=False) skips the header",
            )
        return text


def _disagreement(got: np.ndarray, expected: np.ndarray, integer: bool) -> str:
    """How the inline form's outputs differ from the library's ('' when they agree): integers
    exactly, reals to INLINE_TOLERANCE, non-finite values at the same points."""
    same = (got == expected) | (np.isnan(got) & np.isnan(expected))
    if same.all():
        return ""
    if integer:
        return f"{int((~same).sum())} of {len(same)} verification points differ"
    finite = np.isfinite(expected)
    if not np.array_equal(np.isfinite(got), finite):
        return "non-finite values at other verification points"
    error = relative_errors(got[finite], expected[finite]).max_rel
    return (
        f"max relative error {error:.2e} > {INLINE_TOLERANCE:g}" if error > INLINE_TOLERANCE else ""
    )
