"""The vector unit code is generated for: register width, register count and fused multiply-add,
read from LLVM's view of the host CPU or fixed for a named portable level, so kernels shape their
register tiles for the machine they will run on (AVX-512, AVX2, SSE2, NEON)."""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass

import llvmlite.binding as llvm

__all__ = ["ISA_LEVELS", "Isa", "isa_of", "runnable_levels"]


@dataclass(frozen=True)
class Isa:
    """What a register tile may use: `vector_bytes` wide registers, `registers` of them, FMA."""

    name: str
    vector_bytes: int
    registers: int
    fma: bool

    def lanes(self, element_bytes: int) -> int:
        """Elements of `element_bytes` per vector register."""
        return self.vector_bytes // element_bytes


# LLVM CPU name → the vector unit it guarantees; "generic" is the x86-64 baseline (SSE2, no FMA)
ISA_LEVELS = {
    "x86-64-v4": Isa("avx512", 64, 32, True),
    "x86-64-v3": Isa("avx2", 32, 16, True),
    "generic": Isa("sse2", 16, 16, False),
}
_NEON = Isa("neon", 16, 32, True)  # every aarch64 CPU, "generic" included


@functools.cache
def isa_of(cpu: str = "host") -> Isa:
    """The vector unit of `cpu`: "host" reads LLVM's host features; otherwise a known level name."""
    if platform.machine() in ("aarch64", "arm64"):
        return _NEON
    if cpu != "host":
        return ISA_LEVELS[cpu]
    llvm.initialize_native_target()
    features = llvm.get_host_cpu_features()
    if features.get("avx512f"):
        return Isa("avx512", 64, 32, True)
    if features.get("avx2"):
        return Isa("avx2", 32, 16, bool(features.get("fma")))
    return ISA_LEVELS["generic"]


def runnable_levels() -> list[str]:
    """The named levels this machine can execute, widest first (what the tests run on)."""
    host = isa_of("host")
    return [name for name, isa in ISA_LEVELS.items() if isa.vector_bytes <= host.vector_bytes]
