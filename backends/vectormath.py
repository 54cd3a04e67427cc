"""Vector math for loops LLVM vectorised: calls of vector intrinsics (llvm.cos.v4f64, ...) become
calls of glibc's libmvec (_ZGVdN4v_cos, ...), which computes all lanes at once within 4 ulp.

LLVM vectorises sin, cos, exp and log in loops as vector intrinsics, but this llvmlite build gives
its code generator no vector library, so each lane would become a scalar libm call. Where the
library has the function for that width, this rewrite calls it instead; libmvec comes with
glibc, beside libm.
"""

from __future__ import annotations

import ctypes.util
import functools
import re

import llvmlite.binding as llvm

__all__ = ["LIBMVEC_FUNCTIONS", "calls_vector_math", "load_libmvec", "use_libmvec"]

# intrinsic → libmvec base name (and its vector ABI parameter code: one 'v' per argument)
LIBMVEC_FUNCTIONS = {
    "cos": ("cos", "v"),
    "sin": ("sin", "v"),
    "exp": ("exp", "v"),
    "log": ("log", "v"),
    "pow": ("pow", "vv"),
}
# vector bytes → x86 vector ABI ISA letter: b = SSE, d = AVX2, e = AVX-512
_ISA = {16: "b", 32: "d", 64: "e"}
_ELEMENT_BYTES = {"f64": 8, "f32": 4}
_CALL = re.compile(r"@llvm\.(cos|sin|exp|log|pow)\.v(\d+)(f64|f32)\b")


def _replacement(match: re.Match[str], widest: int) -> str:
    name, lanes, element = match.group(1), int(match.group(2)), match.group(3)
    size = lanes * _ELEMENT_BYTES[element]
    isa = _ISA.get(size) if size <= widest else None
    if isa is None:  # wider than the target's registers: LLVM splits it into libm calls
        return match.group(0)
    base, parameters = LIBMVEC_FUNCTIONS[name]
    suffix = "f" if element == "f32" else ""
    return f"@_ZGV{isa}N{lanes}{parameters}_{base}{suffix}"


def calls_vector_math(parsed: llvm.ModuleRef) -> bool:
    """Whether the module declares a vector intrinsic use_libmvec would rewrite."""
    return any(_CALL.match(f"@{f.name}") for f in parsed.functions)


def use_libmvec(ir_text: str, widest: int = 64) -> tuple[str, bool]:
    """The module text with vector-intrinsic math calling libmvec, and whether anything changed.
    Only vectors as wide as the target's registers (`widest` bytes) at most are mapped, to the
    variant of their width: a --cpu generic (SSE2) build never calls an AVX variant."""
    if not _CALL.search(ir_text):
        return ir_text, False
    replace = functools.partial(_replacement, widest=widest)
    lines = []
    for line in ir_text.splitlines():
        if line.startswith("declare") and _CALL.search(line):
            line = _CALL.sub(replace, line)
            line = re.sub(r"\s#\d+\s*$", "", line)  # intrinsic attributes do not apply
        else:
            line = _CALL.sub(replace, line)
        lines.append(line)
    text = "\n".join(lines) + "\n"
    return text, text != ir_text


@functools.cache
def load_libmvec() -> None:
    """Make libmvec's symbols visible to the JIT (a shared library links it by name instead)."""
    path = ctypes.util.find_library("mvec")
    if path:
        llvm.load_library_permanently(path)
