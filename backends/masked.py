"""Vector loads and stores of the first `used` lanes: a partial vector at the end of a row reads
and writes no element past it (llvm.masked.load / store; a plain access when every lane is used);
and a row cut into such vectors.
"""

from __future__ import annotations

from llvmlite import ir

from .kernel import I1, I32, PTR, lane_bytes

__all__ = ["chunks", "load_first", "store_first"]


def chunks(width: int, lanes: int) -> list[tuple[int, int]]:
    """(first element, elements used) of each vector along a row of `width`: whole vectors, then
    at most one partial one."""
    return [(first, min(lanes, width - first)) for first in range(0, width, lanes)]


def load_first(b: ir.IRBuilder, vector: ir.VectorType, ptr: ir.Value, used: int) -> ir.Value:
    """The first `used` elements from `ptr` as `vector` (the other lanes zero, memory untouched)."""
    align = lane_bytes(vector.element)
    if used >= vector.count:
        return b.load(ptr, typ=vector, align=align)
    mask = _mask(vector.count, used)
    masked = _intrinsic(b, "llvm.masked.load", vector, [PTR, I32, mask.type, vector], vector)
    return b.call(masked, [ptr, ir.Constant(I32, align), mask, ir.Constant(vector, None)])


def store_first(b: ir.IRBuilder, value: ir.Value, ptr: ir.Value, used: int) -> None:
    """The first `used` lanes of `value` to `ptr` (the memory after them untouched)."""
    vector = value.type
    align = lane_bytes(vector.element)
    if used >= vector.count:
        b.store(value, ptr, align=align)
        return
    mask = _mask(vector.count, used)
    signature = [vector, PTR, I32, mask.type]
    masked = _intrinsic(b, "llvm.masked.store", vector, signature, ir.VoidType())
    b.call(masked, [value, ptr, ir.Constant(I32, align), mask])


def _mask(lanes: int, used: int) -> ir.Constant:
    return ir.Constant(ir.VectorType(I1, lanes), [i < used for i in range(lanes)])


def _intrinsic(
    b: ir.IRBuilder, name: str, vector: ir.VectorType, params: list[ir.Type], result: ir.Type
) -> ir.Function:
    """The overload of a masked intrinsic for `vector`, declared once per module."""
    kind = "f32" if lane_bytes(vector.element) == 4 else "f64"
    full = f"{name}.v{vector.count}{kind}.p0"
    found = b.module.globals.get(full)
    if found is not None:
        return found
    return ir.Function(b.module, ir.FunctionType(result, params), full)
