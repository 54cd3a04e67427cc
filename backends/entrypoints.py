"""The library's exported functions, as the Abi describes them, around the kernels codegen.py
emits: NAME_eval, NAME_eval_batch, NAME_metadata, the scalar form and the typed column entries.

Batches run through a kernel for a tile of samples; the last, partial tile is copied into a
staging tile padded with copies of its first row (real inputs, so padding never computes on
values outside the domain) and its rows copied back. Working memory comes from the stack when it
is small and from malloc otherwise; every entry returns 0, -1 when n < 0, -2 when malloc fails.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from llvmlite import ir
from nnc.expr_ranges import fits_int32
from nnc.graph import Graph, Node

from .abi import Abi
from .automaton import define_automaton_entries
from .closed_forms import ExprEmitter
from .codegen import emit_kernel
from .guard import (
    args_inside,
    clamped_args,
    divides_by_a_variable,
    fill,
    row_inside,
    sentinel,
    staged_row,
    substituted,
)
from .interface import scalar_closed_form
from .kernel import (
    ALIGNMENT,
    F32,
    F64,
    I1,
    I8,
    I32,
    I64,
    PTR,
    Kernel,
    WorkspacePlan,
    convert,
    counted,
    i64,
    lane_of,
)

__all__ = [
    "MAX_TILE",
    "STACK_WORKSPACE_BYTES",
    "TILE_BYTES",
    "build_module",
    "tile_for",
    "working_memory",
]

MAX_TILE = 16  # samples per kernel call in batch entries
TILE_BYTES = 512 << 10  # a tile's working memory stays within this (L2-sized)
STACK_WORKSPACE_BYTES = 256 << 10  # larger workspaces come from malloc, not the thread's stack
OUT_OF_MEMORY = -2


def tile_for(per_sample_bytes: int) -> int:
    """Samples per batch-kernel call: a power of two up to MAX_TILE whose working memory fits
    TILE_BYTES (one sample at least)."""
    tile = 1
    while tile < MAX_TILE and 2 * tile * per_sample_bytes <= TILE_BYTES:
        tile *= 2
    return tile


def working_memory(graph: Graph, input_numel: int, output_numel: int) -> dict[str, int]:
    """What the library's entries allocate per call, in bytes: NAME_eval's workspace, the batch
    entry's (a tile of samples plus its staging rows), the tile, and the size above which a
    workspace comes from malloc instead of the stack."""
    single = WorkspacePlan(graph, 1).bytes
    tile = tile_for(single)
    staging = tile * (input_numel + output_numel) * 8 if tile > 1 else 0
    batch = WorkspacePlan(graph, tile).bytes + staging if tile > 1 else single
    return {
        "eval_bytes": single,
        "batch_bytes": batch,
        "tile": tile,
        "malloc_above_bytes": STACK_WORKSPACE_BYTES,
    }


def build_module(graph: Graph, abi: Abi, triple: str = "", data_layout: str = "") -> ir.Module:
    """The whole library as LLVM IR: kernels, the ABI's entry points and the metadata string."""
    module = ir.Module(name=abi.prefix)
    module.triple, module.data_layout = triple, data_layout
    single = emit_kernel(module, graph, 1, abi.input_numel, "nnc_kernel")
    tile = tile_for(single.plan.bytes)
    batch = (
        single
        if tile == 1
        else emit_kernel(module, graph, tile, abi.input_numel, "nnc_kernel_tile")
    )
    single_eval = _define_eval(module, abi, single)
    _define_eval_batch(module, abi, batch, single_eval)
    _define_metadata(module, abi)
    if abi.automaton is not None:
        define_automaton_entries(module, abi, graph[graph.outputs[0]])
    if abi.scalar_args is not None:
        closed = scalar_closed_form(graph)
        if closed is not None:
            scalar = _define_scalar_closed_form(module, abi, closed)
        else:
            scalar = _define_scalar(module, abi, single)
        for suffix in abi.columns:
            _define_columns(module, abi, suffix, scalar, closed)
    return module


@contextlib.contextmanager
def _with_workspace(
    fn: ir.Function, b: ir.IRBuilder, size: int, failure: ir.Constant | None = None
) -> Iterator[ir.Value]:
    """Working memory for the body: an aligned stack buffer when small, else malloc'd and freed
    after the body (a failed malloc returns `failure`, by default OUT_OF_MEMORY)."""
    if size <= STACK_WORKSPACE_BYTES:
        memory = b.alloca(I8, size=i64(max(size, 1)))
        memory.align = ALIGNMENT
        yield memory
        return
    module = fn.module
    malloc = module.globals.get("malloc") or ir.Function(
        module, ir.FunctionType(PTR, [I64]), "malloc"
    )
    free = module.globals.get("free") or ir.Function(
        module, ir.FunctionType(ir.VoidType(), [PTR]), "free"
    )
    memory = b.call(malloc, [i64(size)])
    failed, ok = fn.append_basic_block("no_memory"), fn.append_basic_block("memory")
    b.cbranch(b.icmp_unsigned("==", memory, ir.Constant(PTR, None)), failed, ok)
    b.position_at_end(failed)
    b.ret(failure if failure is not None else ir.Constant(I32, OUT_OF_MEMORY))
    b.position_at_end(ok)
    yield memory
    b.call(free, [memory])


def _define_eval(module: ir.Module, abi: Abi, kernel: Kernel) -> ir.Function:
    """NAME_eval(x, y): 0, or 1 when x lies outside the domain (y then holds the sentinel)."""
    fn = ir.Function(module, ir.FunctionType(I32, [PTR, PTR]), abi.eval)
    x, y = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    status = b.alloca(I32)
    b.store(ir.Constant(I32, 0), status)
    staging = abi.input_numel * 8 if abi.outside == "clamp" else 0
    with _with_workspace(fn, b, kernel.plan.bytes + staging) as workspace:
        if abi.outside == "allow":
            b.call(kernel.fn, [x, y, workspace])
        else:
            row = b.gep(workspace, [i64(kernel.plan.bytes)], source_etype=I8) if staging else x
            inside = staged_row(b, x, row, abi.domain) if staging else row_inside(b, x, abi.domain)
            with b.if_else(inside) as (compute, refuse):
                with compute:
                    b.call(kernel.fn, [row, y, workspace])
                with refuse:
                    fill(b, y, abi.output.numel, ir.Constant(F64, _sentinel_double(abi)))
                    b.store(ir.Constant(I32, 1), status)
    b.ret(b.load(status))
    return fn


def _sentinel_double(abi: Abi) -> float:
    """The sentinel as the double rows carry it: -1 for integer outputs, NaN for real ones."""
    return -1.0 if abi.output_integer else float("nan")


@contextlib.contextmanager
def _checked_n(
    fn: ir.Function, counting: bool = False
) -> Iterator[tuple[ir.IRBuilder, ir.Value | None]]:
    """The body of an entry whose first argument is n: -1 when n < 0, else the body, then 0 — or,
    `counting`, the count the body keeps in the i64 slot it is given (samples outside the
    domain)."""
    entry, work, bad = (fn.append_basic_block(s) for s in ("entry", "work", "bad"))
    b = ir.IRBuilder(entry)
    count = _counter(b) if counting else None
    b.cbranch(b.icmp_signed("<", fn.args[0], i64(0)), bad, work)
    b.position_at_end(bad)
    b.ret(ir.Constant(I32, -1))
    b.position_at_end(work)
    yield b, count
    b.ret(_status(b, b.load(count)) if count is not None else ir.Constant(I32, 0))


def _status(b: ir.IRBuilder, count: ir.Value) -> ir.Value:
    """A count of samples as the int an entry returns (saturating at INT32_MAX)."""
    limit = i64(2**31 - 1)
    return b.trunc(b.select(b.icmp_signed(">", count, limit), limit, count), I32)


def _counter(b: ir.IRBuilder) -> ir.Value:
    """An i64 slot set to 0 here, allocated in the entry block (where LLVM promotes it)."""
    return _slot(b, I64)


def _slot(b: ir.IRBuilder, kind: ir.IntType) -> ir.Value:
    """An integer slot set to 0 here, allocated in the entry block (where LLVM promotes it)."""
    with b.goto_entry_block():
        slot = b.alloca(kind)
    b.store(ir.Constant(kind, 0), slot)
    return slot


def _define_eval_batch(
    module: ir.Module, abi: Abi, kernel: Kernel, single_eval: ir.Function
) -> None:
    """Whole tiles straight from x to y; the last partial tile through a padded staging tile. When
    the domain is guarded and some row lies outside it, every row goes through NAME_eval instead
    (it writes the sentinel), and the entry returns how many rows did."""
    tile, width_in, width_out = kernel.tile, abi.input_numel, abi.output.numel
    fn = ir.Function(module, ir.FunctionType(I32, [I64, PTR, PTR]), abi.eval_batch)
    n, x, y = fn.args
    staging = tile * (width_in + width_out) * 8 if tile > 1 else 0
    with _checked_n(fn) as (b, _):
        if abi.outside != "allow":
            _rows_one_by_one_when_outside(fn, b, abi, single_eval)
        with _with_workspace(fn, b, kernel.plan.bytes + staging) as workspace:
            whole = b.sdiv(n, i64(tile))
            with counted(fn, b, whole) as t:
                first = b.mul(t, i64(tile))
                rows = [_row(b, x, first, width_in), _row(b, y, first, width_out)]
                b.call(kernel.fn, [*rows, workspace])
            if tile > 1:
                _partial_tile(fn, b, kernel, n, whole, x, y, workspace, width_in, width_out)


def _rows_one_by_one_when_outside(
    fn: ir.Function, b: ir.IRBuilder, abi: Abi, single_eval: ir.Function
) -> None:
    """Count the rows outside the domain; when there are any, run NAME_eval on every row and
    return how many got the sentinel; otherwise fall through to the tiles."""
    n, x, y = fn.args
    outside = _counter(b)
    with counted(fn, b, n) as r:
        inside = row_inside(b, _row(b, x, r, abi.input_numel), abi.domain)
        b.store(b.add(b.load(outside), b.zext(b.not_(inside), I64)), outside)
    slow, fast = fn.append_basic_block("rows_outside"), fn.append_basic_block("all_inside")
    b.cbranch(b.icmp_signed("==", b.load(outside), i64(0)), fast, slow)
    b.position_at_end(slow)
    refused = _counter(b)
    with counted(fn, b, n) as r:
        rows = [_row(b, x, r, abi.input_numel), _row(b, y, r, abi.output.numel)]
        status = b.call(single_eval, rows)
        b.store(b.add(b.load(refused), b.sext(status, I64)), refused)
    b.ret(_status(b, b.load(refused)))
    b.position_at_end(fast)


def _partial_tile(
    fn: ir.Function,
    b: ir.IRBuilder,
    kernel: Kernel,
    n: ir.Value,
    whole: ir.Value,
    x: ir.Value,
    y: ir.Value,
    workspace: ir.Value,
    width_in: int,
    width_out: int,
) -> None:
    """The rows after the whole tiles: staged, padded with copies of the first, computed, copied."""
    tile = kernel.tile
    first = b.mul(whole, i64(tile))
    rest = b.sub(n, first)
    run, done = fn.append_basic_block("partial"), fn.append_basic_block("partial_done")
    b.cbranch(b.icmp_signed(">", rest, i64(0)), run, done)
    b.position_at_end(run)
    staged_x = b.gep(workspace, [i64(kernel.plan.bytes)], source_etype=I8)
    staged_y = b.gep(staged_x, [i64(tile * width_in)], source_etype=F64)
    with counted(fn, b, i64(tile)) as r:
        source = b.select(b.icmp_signed("<", r, rest), b.add(first, r), first)
        _copy_rows(b, _row(b, staged_x, r, width_in), _row(b, x, source, width_in), width_in)
    b.call(kernel.fn, [staged_x, staged_y, workspace])
    with counted(fn, b, rest) as r:
        target = _row(b, y, b.add(first, r), width_out)
        _copy_rows(b, target, _row(b, staged_y, r, width_out), width_out)
    b.branch(done)
    b.position_at_end(done)


def _row(b: ir.IRBuilder, base: ir.Value, row: ir.Value, width: int) -> ir.Value:
    return b.gep(base, [b.mul(row, i64(width))], source_etype=F64)


def _copy_rows(b: ir.IRBuilder, target: ir.Value, source: ir.Value, doubles: int) -> None:
    module = b.module
    memcpy = module.globals.get("llvm.memcpy.p0.p0.i64") or ir.Function(
        module, ir.FunctionType(ir.VoidType(), [PTR, PTR, I64, I1]), "llvm.memcpy.p0.p0.i64"
    )
    b.call(memcpy, [target, source, i64(8 * doubles), ir.Constant(I1, 0)])


def _define_metadata(module: ir.Module, abi: Abi) -> None:
    text = bytearray(abi.metadata_json().encode() + b"\0")
    data = ir.GlobalVariable(module, ir.ArrayType(I8, len(text)), name="nnc_metadata_json")
    data.linkage = "internal"
    data.global_constant = True
    data.initializer = ir.Constant(ir.ArrayType(I8, len(text)), text)
    fn = ir.Function(module, ir.FunctionType(PTR, []), abi.metadata_symbol)
    ir.IRBuilder(fn.append_basic_block("entry")).ret(data)


def _define_scalar(module: ir.Module, abi: Abi, kernel: Kernel) -> ir.Function:
    """NAME(a, b, ...): fills x with the arguments and the spec's constants, returns y[0]."""
    assert abi.scalar_args is not None
    params = [I64 if a.integer else F64 for a in abi.scalar_args]
    result_type = I64 if abi.output_integer else F64
    fn = ir.Function(module, ir.FunctionType(result_type, params), abi.prefix)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    x = b.alloca(F64, size=i64(max(abi.input_numel, 1)))
    y = b.alloca(F64)
    for arg, value in zip(abi.scalar_args, _guarded_args(fn, b, abi, list(fn.args))):
        b.store(convert(b, value, F64), b.gep(x, [i64(arg.position)], source_etype=F64))
    for position, constant in abi.constants:
        b.store(ir.Constant(F64, constant), b.gep(x, [i64(position)], source_etype=F64))
    failure = ir.Constant(result_type, -1 if abi.output_integer else float("nan"))
    with _with_workspace(fn, b, kernel.plan.bytes, failure) as memory:
        b.call(kernel.fn, [x, y, memory])
    b.ret(convert(b, b.load(y, typ=F64), result_type))
    return fn


def _define_scalar_closed_form(module: ir.Module, abi: Abi, node: Node) -> ir.Function:
    """NAME(a, b, ...) = the closed form itself, in the output's lane: no buffers, no conversions."""
    assert abi.scalar_args is not None
    params = [I64 if a.integer else F64 for a in abi.scalar_args]
    result_type = I64 if abi.output_integer else F64
    fn = ir.Function(module, ir.FunctionType(result_type, params), abi.prefix)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    lane = lane_of(node.dtype)
    values = _guarded_args(fn, b, abi, list(fn.args))
    symbols = {a.name: convert(b, v, lane) for a, v in zip(abi.scalar_args, values)}
    value = ExprEmitter(b, module, symbols, lane, node.attrs.get("bounds")).value(
        node.attrs["expr"]
    )
    b.ret(convert(b, value, result_type))
    return fn


def _guarded_args(fn: ir.Function, b: ir.IRBuilder, abi: Abi, values: list[ir.Value]) -> list:
    """The scalar form's arguments as the domain guard passes them on: unchanged (allow), moved
    into the domain's box (clamp); outside the domain (check) or NaN (clamp) it returns the
    sentinel right away."""
    assert abi.scalar_args is not None
    if abi.outside == "allow":
        return values
    if abi.outside == "clamp":
        values, ok = clamped_args(b, values, abi.scalar_args, abi.domain)
    else:
        ok = args_inside(b, values, abi.scalar_args, abi.domain)
    refuse, go = fn.append_basic_block("outside"), fn.append_basic_block("inside")
    b.cbranch(ok, go, refuse)
    b.position_at_end(refuse)
    b.ret(sentinel(fn.function_type.return_type))
    b.position_at_end(go)
    return values


_COLUMN_TYPES = {"i32": I32, "i64": I64, "f32": F32, "f64": F64}


def _define_columns(
    module: ir.Module, abi: Abi, suffix: str, scalar: ir.Function, closed: Node | None
) -> None:
    """NAME_batch_<t>(n, a, b, ..., out): out[i] = NAME(a[i], b[i], ...) over typed columns.

    For a closed form the expression is emitted in the loop itself, in int32 lanes when the
    verified bounds prove every intermediate fits (twice the SIMD width of int64), so LLVM
    vectorises the loop; otherwise the loop calls the scalar entry."""
    assert abi.scalar_args is not None
    element = _COLUMN_TYPES[suffix]
    count = len(abi.scalar_args)
    fn = ir.Function(
        module, ir.FunctionType(I32, [I64] + [PTR] * (count + 1)), abi.column_entry(suffix)
    )
    for arg in fn.args[1:]:
        arg.add_attribute("noalias")
    columns, out = fn.args[1 : count + 1], fn.args[count + 1]
    guarded = abi.outside != "allow"
    # rows outside compute on a domain point instead only where integer division could trap
    substitute = closed is not None and divides_by_a_variable(closed.attrs["expr"])
    with _checked_n(fn, counting=guarded) as (b, outside):
        seen = _slot(b, I32) if guarded else None  # any row outside: an OR, cheap in the loop
        with counted(fn, b, fn.args[0]) as i:
            loaded = [b.load(b.gep(c, [i], source_etype=element), typ=element) for c in columns]
            ok = _column_check(b, abi, loaded)
            if abi.outside == "clamp":
                loaded = clamped_args(b, loaded, abi.scalar_args, abi.domain)[0]
            if ok is not None and substitute:
                loaded = substituted(b, loaded, abi.scalar_args, abi.domain, ok)
            result = _column_value(b, module, abi, suffix, scalar, closed, loaded)
            result = convert(b, result, element)
            if ok is not None:  # NOTE: branch-free, so the loop still vectorises
                result = b.select(ok, result, sentinel(element))
                b.store(b.or_(b.load(seen), b.zext(b.not_(ok), I32)), seen)
            b.store(result, b.gep(out, [i], source_etype=element))
        if guarded:
            _count_rows_outside(b, abi, columns, element, seen, outside)


def _column_value(
    b: ir.IRBuilder,
    module: ir.Module,
    abi: Abi,
    suffix: str,
    scalar: ir.Function,
    closed: Node | None,
    loaded: list[ir.Value],
) -> ir.Value:
    """One row's result: the closed form inline (in int32 lanes when they provably suffice), or
    a call of the scalar entry."""
    assert abi.scalar_args is not None
    if closed is not None:
        bounds = closed.attrs.get("bounds") or {}
        lane = lane_of(closed.dtype)
        if suffix == "i32" and fits_int32(closed.attrs["expr"], bounds):
            lane = I32
        symbols = {a.name: convert(b, v, lane) for a, v in zip(abi.scalar_args, loaded)}
        return ExprEmitter(b, module, symbols, lane, bounds).value(closed.attrs["expr"])
    params = [p.type for p in scalar.args]
    return b.call(scalar, [convert(b, v, t) for v, t in zip(loaded, params)])


def _column_check(b: ir.IRBuilder, abi: Abi, values: list[ir.Value]) -> ir.Value | None:
    """i1: the row gets a result — it lies in the domain (check) or holds no NaN (clamp); None
    when nothing is checked (allow)."""
    assert abi.scalar_args is not None
    if abi.outside == "allow":
        return None
    if abi.outside == "clamp":
        return clamped_args(b, values, abi.scalar_args, abi.domain)[1]
    return args_inside(b, values, abi.scalar_args, abi.domain)


def _count_rows_outside(
    b: ir.IRBuilder,
    abi: Abi,
    columns: list[ir.Value],
    element: ir.Type,
    seen: ir.Value,
    count: ir.Value,
) -> None:
    """When some row lay outside, a second pass counts them (the rare case pays for the count)."""
    fn = b.function
    some = b.icmp_unsigned("!=", b.load(seen), ir.Constant(I32, 0))
    with b.if_then(some), counted(fn, b, fn.args[0]) as i:
        loaded = [b.load(b.gep(c, [i], source_etype=element), typ=element) for c in columns]
        ok = _column_check(b, abi, loaded)
        b.store(b.add(b.load(count), b.zext(b.not_(ok), I64)), count)
