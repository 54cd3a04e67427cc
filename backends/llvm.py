"""The LLVM backend: code generation with llvmlite at O3; JIT in process or a shared library."""

from __future__ import annotations

from pathlib import Path

from nnc.graph import Graph

from .abi import Abi
from .aot import LIBRARY_MODE, link_shared_library, write_atomically
from .binding import bind
from .calling import NativeFunction
from .entrypoints import build_module
from .jit import jit, needs_libmvec, optimize, target_machine

__all__ = ["LLVMBackend"]


class LLVMBackend:
    """Builds one LLVM module per (graph, abi); the JIT and the shared library share it."""

    name = "llvm"

    def __init__(self, cpu: str = "host") -> None:
        self.cpu = cpu

    def ir(self, graph: Graph, abi: Abi, optimized: bool = False) -> str:
        """The library's LLVM IR as text, before or after optimisation."""
        module = build_module(graph, abi)
        return str(optimize(module, target_machine(self.cpu)) if optimized else module)

    def jit(self, graph: Graph, abi: Abi, semantics: str, unroll: bool = True) -> NativeFunction:
        """A callable over numpy/torch arrays running the JIT-compiled library in this process
        (built faster, and running a little slower, without loop unrolling)."""
        machine = target_machine(self.cpu, in_process=True)
        engine = jit(optimize(build_module(graph, abi), machine, unroll), machine)
        return NativeFunction(abi, bind(abi, engine.get_function_address, engine), semantics)

    def library(self, graph: Graph, abi: Abi) -> bytes:
        """The shared library's bytes: the module compiled to an object and linked."""
        machine = target_machine(self.cpu)
        parsed = optimize(build_module(graph, abi), machine)
        libraries = ["mvec", "m"] if needs_libmvec(parsed) else ["m"]
        return link_shared_library(machine.emit_object(parsed), libraries)

    def write(self, graph: Graph, abi: Abi, path: Path) -> None:
        """Write the shared library `path` (atomically)."""
        write_atomically(path, self.library(graph, abi), LIBRARY_MODE)
