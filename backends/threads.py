"""A batch entry that spreads its samples over threads: pthreads from libc, nothing else.

`threaded(n, in..., out, threads)` cuts the batch into `threads` contiguous chunks (whole tiles,
so only the last chunk has a tail), starts threads - 1 pthreads on the others' chunks, computes the
first chunk itself and joins. The work items live on the caller's stack; the generated code keeps
no global state, so the entry stays reentrant. A thread that cannot be started leaves its chunk
to the caller, which computes it after its own: the result never depends on how many threads
actually ran. Inputs overlapping the output are copied once, before any thread starts.
"""

from __future__ import annotations

from collections.abc import Sequence

from llvmlite import ir

from .loops import counted_loop
from .memory import inputs_apart

__all__ = ["MAX_THREADS", "emit_threaded_batch"]

I32, I64, PTR = ir.IntType(32), ir.IntType(64), ir.PointerType()
MAX_THREADS = 256  # more are clamped: the work items are on the caller's stack
# one work item, in 8-byte words: the chunk's sample count, its batch call's result, its thread
# (pthread_t), then one row pointer per argument
_ITEM_FIELDS = ("count", "result", "thread")


def _i64(value: int) -> ir.Constant:
    return ir.Constant(I64, value)


def _declare(module: ir.Module, name: str, signature: ir.FunctionType) -> ir.Function:
    found = module.globals.get(name)
    return found if found is not None else ir.Function(module, signature, name)


def emit_threaded_batch(
    module: ir.Module,
    name: str,
    batch: ir.Function,
    row_bytes: Sequence[int],
    tile: int = 1,
    least: int = 1,
) -> ir.Function:
    """`i32 name(i64 n, ptr in..., ptr out, i32 threads)` calling `batch(i64 n, ptr in..., ptr
    out) -> i32` on chunks of whole `tile`s, each of `least` samples at least (fewer threads
    than asked when the batch is too small to pay for starting them); `row_bytes` is one
    sample's bytes in each pointer.
    Returns -1 when n < 0 or threads < 1, else the first negative result of a chunk (an error),
    else the chunks' results added up (samples outside the domain, saturating at INT32_MAX)."""
    pointers = len(row_bytes)
    words = len(_ITEM_FIELDS) + pointers
    worker = _emit_worker(module, f"{name}.worker", batch, pointers)
    fn = ir.Function(module, ir.FunctionType(I32, [I64] + [PTR] * pointers + [I32]), name)
    n, rows, threads = fn.args[0], fn.args[1 : 1 + pointers], fn.args[-1]
    entry = fn.append_basic_block("entry")
    b = ir.IRBuilder(entry)
    items = b.alloca(I64, size=_i64(MAX_THREADS * words), name="items")
    result = b.alloca(I32, name="result")
    bad = fn.append_basic_block("bad")
    start = fn.append_basic_block("start")
    b.cbranch(
        b.or_(b.icmp_signed("<", n, _i64(0)), b.icmp_signed("<", threads, ir.Constant(I32, 1))),
        bad,
        start,
    )
    b.position_at_end(bad)
    b.ret(ir.Constant(I32, -1))

    b.position_at_end(start)
    sizes = [b.mul(n, _i64(width)) for width in row_bytes]
    pairs = list(zip(rows[:-1], sizes[:-1]))
    with inputs_apart(fn, b, pairs, (rows[-1], sizes[-1])) as readable:
        _spread(
            module,
            b,
            worker,
            items,
            result,
            n,
            [*readable, rows[-1]],
            row_bytes,
            threads,
            (tile, least),
        )
    b.ret(b.load(result, typ=I32))
    return fn


def _spread(
    module: ir.Module,
    b: ir.IRBuilder,
    worker: ir.Function,
    items: ir.Value,
    result: ir.Value,
    n: ir.Value,
    rows: Sequence[ir.Value],
    row_bytes: Sequence[int],
    threads: ir.Value,
    sizes: tuple[int, int],
) -> None:
    """Chunks of whole tiles (and `least` samples at least) over the threads; in `result`, the
    first negative chunk result, else their sum."""
    tile, least = sizes
    words = len(_ITEM_FIELDS) + len(row_bytes)
    wanted = b.sext(threads, I64)
    wanted = b.select(b.icmp_signed(">", wanted, _i64(MAX_THREADS)), _i64(MAX_THREADS), wanted)
    tiles = b.udiv(b.add(n, _i64(tile - 1)), _i64(tile))
    per_thread = b.udiv(b.add(tiles, b.sub(wanted, _i64(1))), wanted)  # ceil(tiles / threads)
    fewest = _i64(max(1, -(-least // tile)))  # tiles a chunk must hold to be worth a thread
    chunk = b.mul(
        b.select(b.icmp_unsigned("<", per_thread, fewest), fewest, per_thread), _i64(tile)
    )
    count = b.udiv(b.add(n, b.sub(chunk, _i64(1))), chunk)  # chunks actually needed (0 if n = 0)

    # fill the items and start threads for chunks 1..count-1
    with counted_loop(b, count) as index:
        slot = b.gep(items, [b.mul(index, _i64(words))], source_etype=I64)
        first = b.mul(index, chunk)
        left = b.sub(n, first)
        size = b.select(b.icmp_signed("<", left, chunk), left, chunk)
        b.store(size, _field(b, slot, "count"))
        for p, (row, width) in enumerate(zip(rows, row_bytes)):
            moved = b.gep(row, [b.mul(first, _i64(width))], source_etype=ir.IntType(8))
            b.store(b.ptrtoint(moved, I64), _row_slot(b, slot, p))
        b.store(_i64(0), _field(b, slot, "result"))
        _start_thread(module, b, worker, slot, index)

    # the caller's own chunk, then every chunk whose thread did not start, then join the rest
    with counted_loop(b, count) as index:
        slot = b.gep(items, [b.mul(index, _i64(words))], source_etype=I64)
        thread = b.load(_field(b, slot, "thread"), typ=I64)
        own = b.icmp_unsigned("==", thread, _i64(0))
        with b.if_else(own) as (compute, join):
            with compute:
                b.call(worker, [slot])
            with join:
                pthread_join = _declare(module, "pthread_join", ir.FunctionType(I32, [I64, PTR]))
                b.call(pthread_join, [thread, ir.Constant(PTR, None)])

    # the first error (a negative result) if any chunk had one, else the chunks' counts added up
    error, total = b.alloca(I64, name="error"), b.alloca(I64, name="total")
    b.store(_i64(0), error)
    b.store(_i64(0), total)
    with counted_loop(b, count) as index:
        slot = b.gep(items, [b.mul(index, _i64(words))], source_etype=I64)
        chunk_result = b.load(_field(b, slot, "result"), typ=I64)
        failed = b.icmp_signed("<", chunk_result, _i64(0))
        so_far = b.load(error, typ=I64)
        first = b.and_(failed, b.icmp_signed("==", so_far, _i64(0)))
        b.store(b.select(first, chunk_result, so_far), error)
        counted_here = b.select(failed, _i64(0), chunk_result)
        b.store(b.add(b.load(total, typ=I64), counted_here), total)
    limit = _i64(2**31 - 1)
    added = b.load(total, typ=I64)
    added = b.select(b.icmp_signed(">", added, limit), limit, added)
    worst = b.load(error, typ=I64)
    outcome = b.select(b.icmp_signed("<", worst, _i64(0)), worst, added)
    b.store(b.trunc(outcome, I32), result)


def _start_thread(
    module: ir.Module,
    b: ir.IRBuilder,
    worker: ir.Function,
    slot: ir.Value,
    index: ir.Value,
) -> None:
    """pthread_create for chunk `index` > 0 into the item's pthread_t; 0 there when it is the
    caller's chunk or the thread could not be started (glibc's pthread_t is never 0)."""
    create = _declare(module, "pthread_create", ir.FunctionType(I32, [PTR, PTR, PTR, PTR]))
    handle = _field(b, slot, "thread")
    b.store(_i64(0), handle)
    with b.if_then(b.icmp_unsigned(">", index, _i64(0))):
        status = b.call(create, [handle, ir.Constant(PTR, None), worker, slot])
        with b.if_then(b.icmp_signed("!=", status, ir.Constant(I32, 0))):
            b.store(_i64(0), handle)


def _emit_worker(module: ir.Module, name: str, batch: ir.Function, pointers: int) -> ir.Function:
    """`ptr worker(ptr item)`: the batch call on one chunk, its result stored in the item."""
    fn = ir.Function(module, ir.FunctionType(PTR, [PTR]), name)
    fn.linkage = "internal"
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    (slot,) = fn.args
    count = b.load(_field(b, slot, "count"), typ=I64)
    rows = [b.inttoptr(b.load(_row_slot(b, slot, p), typ=I64), PTR) for p in range(pointers)]
    status = b.call(batch, [count, *rows])
    b.store(b.sext(status, I64), _field(b, slot, "result"))
    b.ret(ir.Constant(PTR, None))
    return fn


def _field(b: ir.IRBuilder, slot: ir.Value, field: str) -> ir.Value:
    return b.gep(slot, [_i64(_ITEM_FIELDS.index(field))], source_etype=I64)


def _row_slot(b: ir.IRBuilder, slot: ir.Value, pointer: int) -> ir.Value:
    return b.gep(slot, [_i64(len(_ITEM_FIELDS) + pointer)], source_etype=I64)
