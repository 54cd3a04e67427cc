"""Memory the entry points take for a call: the working memory of a kernel (stack when small,
malloc otherwise), and a private copy of inputs that overlap the output, so that a caller may pass
the same buffer (or overlapping ones) for x and y and still get y = f(x)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from llvmlite import ir

from .kernel import ALIGNMENT, I1, I8, I32, I64, PTR, i64

__all__ = ["OUT_OF_MEMORY", "STACK_WORKSPACE_BYTES", "inputs_apart", "with_workspace"]

STACK_WORKSPACE_BYTES = 256 << 10  # larger workspaces come from malloc, not the thread's stack
OUT_OF_MEMORY = -2


def _libc(module: ir.Module, name: str, signature: ir.FunctionType) -> ir.Function:
    return module.globals.get(name) or ir.Function(module, signature, name)


def _malloc(module: ir.Module) -> ir.Function:
    return _libc(module, "malloc", ir.FunctionType(PTR, [I64]))


def _free(module: ir.Module) -> ir.Function:
    return _libc(module, "free", ir.FunctionType(ir.VoidType(), [PTR]))


def _fail_without(fn: ir.Function, b: ir.IRBuilder, memory: ir.Value, failure: ir.Value) -> None:
    """Return `failure` when malloc gave no memory; go on otherwise."""
    failed, ok = fn.append_basic_block("no_memory"), fn.append_basic_block("memory")
    b.cbranch(b.icmp_unsigned("==", memory, ir.Constant(PTR, None)), failed, ok)
    b.position_at_end(failed)
    b.ret(failure)
    b.position_at_end(ok)


@contextlib.contextmanager
def with_workspace(
    fn: ir.Function, b: ir.IRBuilder, size: int, failure: ir.Constant | None = None
) -> Iterator[ir.Value]:
    """Working memory for the body: an aligned stack buffer when small, else malloc'd and freed
    after the body (a failed malloc returns `failure`, by default OUT_OF_MEMORY)."""
    if size <= STACK_WORKSPACE_BYTES:
        memory = b.alloca(I8, size=i64(max(size, 1)))
        memory.align = ALIGNMENT
        memory.type = (
            PTR  # NOTE: untyped like malloc's: llvmlite would type it i8*, refusing stores
        )
        yield memory
        return
    memory = b.call(_malloc(fn.module), [i64(size)])
    _fail_without(fn, b, memory, failure or ir.Constant(I32, OUT_OF_MEMORY))
    yield memory
    b.call(_free(fn.module), [memory])


@contextlib.contextmanager
def inputs_apart(
    fn: ir.Function,
    b: ir.IRBuilder,
    inputs: Sequence[tuple[ir.Value, ir.Value]],
    output: tuple[ir.Value, ir.Value],
) -> Iterator[list[ir.Value]]:
    """The input pointers to read, given (pointer, byte count) of each input and of the output:
    an input whose bytes overlap the output's is first copied to malloc'd memory (freed after the
    body; a failed malloc returns OUT_OF_MEMORY), so writing outputs never changes inputs still to
    be read. No copy, and no cost but two comparisons, when they are apart."""
    out, out_bytes = output
    out_start = b.ptrtoint(out, I64)
    out_end = b.add(out_start, out_bytes)
    copies: list[tuple[ir.Value, ir.Value]] = []
    readable = []
    for pointer, size in inputs:
        start = b.ptrtoint(pointer, I64)
        overlap = b.and_(
            b.icmp_unsigned("<", start, out_end),
            b.icmp_unsigned("<", out_start, b.add(start, size)),
        )
        overlap = b.and_(overlap, b.icmp_signed(">", size, i64(0)))
        before = b.block
        copy, joined = fn.append_basic_block("copy_input"), fn.append_basic_block("input_ready")
        b.cbranch(overlap, copy, joined)
        b.position_at_end(copy)
        memory = b.call(_malloc(fn.module), [size])
        _fail_without(fn, b, memory, ir.Constant(I32, OUT_OF_MEMORY))
        memcpy = _libc(
            fn.module, "llvm.memcpy.p0.p0.i64", ir.FunctionType(ir.VoidType(), [PTR, PTR, I64, I1])
        )
        b.call(memcpy, [memory, pointer, size, ir.Constant(I1, 0)])
        copied = b.block
        b.branch(joined)
        b.position_at_end(joined)
        chosen = b.phi(PTR)
        chosen.add_incoming(pointer, before)
        chosen.add_incoming(memory, copied)
        copies.append((overlap, chosen))
        readable.append(chosen)
    yield readable
    for overlap, chosen in copies:
        with b.if_then(overlap):
            b.call(_free(fn.module), [chosen])
