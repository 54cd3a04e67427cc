"""The LLVM backend: code generation with llvmlite at O3; JIT in process or a shared library."""

from __future__ import annotations

from pathlib import Path

import llvmlite.binding as llvm
from llvmlite import ir
from nnc.graph import Graph

from .abi import Abi
from .aot import LIBRARY_MODE, link_shared_library, write_atomically
from .binding import bind
from .calling import NativeFunction
from .entrypoints import build_module, working_memory
from .isa import isa_of
from .jit import jit, needs_libmvec, optimize, target_machine

__all__ = ["LLVMBackend"]


class LLVMBackend:
    """Builds one LLVM module per (graph, abi); the JIT and the shared library share it."""

    name = "llvm"

    def __init__(self, cpu: str = "host", precision: str = "network") -> None:
        self.cpu = cpu
        self.precision = precision

    def module(self, graph: Graph, abi: Abi, gemms: bool = True) -> ir.Module:
        """The library as LLVM IR, shaped for this backend's CPU and precision (matmuls as plain
        loops without `gemms`)."""
        isa = isa_of(self.cpu) if gemms else None
        return build_module(graph, abi, precision=self.precision, isa=isa)

    def working_memory(self, graph: Graph, abi: Abi) -> dict[str, int]:
        """The bytes the library's entries allocate per call (entrypoints.working_memory)."""
        return working_memory(graph, abi, self.precision, isa_of(self.cpu))

    def _optimize(
        self, module: ir.Module, machine: llvm.TargetMachine, unroll: bool = True
    ) -> llvm.ModuleRef:
        return optimize(module, machine, isa_of(self.cpu).vector_bytes, unroll)

    def ir(self, graph: Graph, abi: Abi, optimized: bool = False) -> str:
        """The library's LLVM IR as text, before or after optimisation."""
        module = self.module(graph, abi)
        return str(self._optimize(module, target_machine(self.cpu)) if optimized else module)

    def jit(self, graph: Graph, abi: Abi, semantics: str, quick: bool = False) -> NativeFunction:
        """A callable over numpy/torch arrays running the JIT-compiled library in this process;
        `quick`: built 2-3x faster, running slower, without loop unrolling or GEMM micro-kernels
        (for code run once on a few thousand points)."""
        machine = target_machine(self.cpu, in_process=True)
        module = self.module(graph, abi, gemms=not quick)
        engine = jit(self._optimize(module, machine, unroll=not quick), machine)
        return NativeFunction(abi, bind(abi, engine.get_function_address, engine), semantics)

    def library(self, graph: Graph, abi: Abi) -> bytes:
        """The shared library's bytes: the module compiled to an object and linked."""
        machine = target_machine(self.cpu)
        parsed = self._optimize(self.module(graph, abi), machine)
        libraries = ["mvec", "m"] if needs_libmvec(parsed) else ["m"]
        return link_shared_library(machine.emit_object(parsed), libraries)

    def write(self, graph: Graph, abi: Abi, path: Path) -> None:
        """Write the shared library `path` (atomically)."""
        write_atomically(path, self.library(graph, abi), LIBRARY_MODE)
