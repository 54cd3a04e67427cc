"""Counted loops at an IR builder's position, for emitters that work outside a Kernel (the GEMM
driver, the threaded batch entry)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from llvmlite import ir

__all__ = ["counted_loop"]

I64 = ir.IntType(64)


@contextlib.contextmanager
def counted_loop(b: ir.IRBuilder, count: ir.Value) -> Iterator[ir.Value]:
    """for (i = 0; i < count; i++) { body }, count a signed i64; yields i inside the body."""
    fn = b.function
    head, body, done = (fn.append_basic_block(s) for s in ("loop", "body", "done"))
    before = b.block
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64)
    i.add_incoming(ir.Constant(I64, 0), before)
    b.cbranch(b.icmp_signed("<", i, count), body, done)
    b.position_at_end(body)
    yield i
    i.add_incoming(b.add(i, ir.Constant(I64, 1)), b.block)
    b.branch(head)
    b.position_at_end(done)
