"""Native execution for the pipeline and the passes: a picklable description of how to compile a
graph in the current process (JIT), so passes never import a backend and their work units can be
sent to other processes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nnc.backends import get_backend
from nnc.backends.calling import NativeFunction
from nnc.backends.interface import JIT_PREFIX, make_abi

from .graph import Graph
from .spec import InputSpec

__all__ = ["JitCompiler"]


@dataclass(frozen=True)
class JitCompiler:
    """Compiles a graph with the LLVM backend for `cpu`, in `precision`, into a callable over
    numpy arrays."""

    cpu: str = "host"
    precision: str = "network"
    outside: str = "check"  # what the code does with a sample outside the domain (guard.py)
    # for code a compile runs once (passes, measurements): no unrolling, no GEMMs; built 2-3x faster
    quick: bool = False

    def __call__(
        self, graph: Graph, specs: Sequence[InputSpec], semantics: str = "raw"
    ) -> NativeFunction:
        abi = make_abi(JIT_PREFIX, graph, specs, {}, self.outside)
        backend = get_backend("llvm", self.cpu, self.precision)
        return backend.jit(graph, abi, semantics, self.quick)

    def ir(self, graph: Graph, specs: Sequence[InputSpec], optimized: bool) -> str:
        """The LLVM IR the JIT compiles for this graph, before or after optimisation (debug 4)."""
        abi = make_abi(JIT_PREFIX, graph, specs, {})
        return get_backend("llvm", self.cpu, self.precision).ir(graph, abi, optimized)
