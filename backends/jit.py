"""llvmlite.binding: parse, verify and optimise a module, then JIT it or emit an object file."""

from __future__ import annotations

import functools

import llvmlite.binding as llvm
from llvmlite import ir
from nnc.errors import BackendError

from .vectormath import calls_vector_math, load_libmvec, use_libmvec

__all__ = ["OPT_LEVEL", "jit", "needs_libmvec", "optimize", "target_machine"]

OPT_LEVEL = 3


@functools.cache
def _initialize() -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()


def target_machine(cpu: str = "host", in_process: bool = False) -> llvm.TargetMachine:
    """A machine for this host's CPU ("host") or a portable x86-64/aarch64 baseline ("generic").

    In process (the JIT), code and constants are mapped wherever the allocator puts them, maybe
    more than 2 GB apart: the large code model addresses them with 64-bit offsets (the small one
    aborts the process in LLVM's relocation once a model's weights take tens of MB)."""
    _initialize()
    target = llvm.Target.from_default_triple()
    name = llvm.get_host_cpu_name() if cpu == "host" else cpu
    features = llvm.get_host_cpu_features().flatten() if cpu == "host" else ""
    return target.create_target_machine(
        cpu=name,
        features=features,
        opt=OPT_LEVEL,
        reloc="pic",
        codemodel="large" if in_process else "default",
    )


def optimize(
    module: ir.Module, machine: llvm.TargetMachine, vector_bytes: int = 64, unroll: bool = True
) -> llvm.ModuleRef:
    """Parse and verify the IR, then run LLVM's O3 pipeline on it; vector math calls libmvec for
    vectors up to `vector_bytes` (the target's register width). Without `unroll` (code run once
    on a few thousand points inside a compile) LLVM builds it about 7x faster: unrolling the
    tile loops is most of the O3 time on a large network."""
    module.triple = machine.triple
    module.data_layout = str(machine.target_data)
    try:
        parsed = llvm.parse_assembly(str(module))
        parsed.verify()
    except RuntimeError as error:
        raise BackendError(
            f"LLVM rejected the generated module: {error}",
            hint="this is a bug in nnc's code generator; please report it",
        ) from error
    options = llvm.create_pipeline_tuning_options(speed_level=OPT_LEVEL)
    options.loop_vectorization = True
    options.slp_vectorization = True
    options.loop_unrolling = unroll
    builder = llvm.create_pass_builder(machine, options)
    builder.getModulePassManager().run(parsed, builder)
    if calls_vector_math(parsed):  # NOTE: printing a module with large weights is costly
        parsed = llvm.parse_assembly(use_libmvec(str(parsed), vector_bytes)[0])
        parsed.verify()
    return parsed


def needs_libmvec(parsed: llvm.ModuleRef) -> bool:
    return any(f.name.startswith("_ZGV") for f in parsed.functions)


def jit(parsed: llvm.ModuleRef, machine: llvm.TargetMachine) -> llvm.ExecutionEngine:
    """Compile an optimised module in memory; keep the engine alive as long as its functions."""
    if needs_libmvec(parsed):
        load_libmvec()
    engine = llvm.create_mcjit_compiler(parsed, machine)
    engine.finalize_object()
    return engine
