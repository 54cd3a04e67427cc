"""The library's exported functions, as the Abi describes them, around the kernels codegen.py
emits: NAME_eval, NAME_eval_batch, the typed row entries (NAME_eval_f32, NAME_eval_batch_f32, ...),
the threaded batch entries, NAME_metadata, the scalar form and the typed column entries.

Batches run through a kernel for a tile of samples, the last tile with only the samples left (the
kernel takes its sample count). Rows whose element type is not the kernel's own (double rows of a
float32 network, say) are converted tile by tile through a staging area. Working memory comes
from the stack when it is small and from malloc otherwise. Every entry returns how many samples
lay outside the domain (backends/guard.py; 0 when all were inside or nothing is checked), -1 when
n < 0 (or threads < 1), -2 when malloc fails.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

from llvmlite import ir
from nnc.expr_ranges import fits_int32
from nnc.graph import Graph, Node
from nnc.ops import Op

from .abi import Abi
from .automaton import define_automaton_entries
from .closed_forms import ExprEmitter
from .codegen import emit_kernel, kernel_plan
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
from .isa import Isa
from .kernel import (
    ALIGNMENT,
    F32,
    F64,
    I8,
    I32,
    I64,
    PTR,
    Kernel,
    convert,
    counted,
    i64,
    is_formula,
    lane_bytes,
    lane_of,
    precision_for,
)
from .memory import STACK_WORKSPACE_BYTES, inputs_apart, with_workspace
from .threads import emit_threaded_batch

__all__ = [
    "MAX_TILE",
    "THREAD_WORK",
    "TILE_BYTES",
    "build_module",
    "tile_for",
    "work_per_sample",
    "working_memory",
]

MAX_TILE = 16  # samples per kernel call in batch entries
TILE_BYTES = 512 << 10  # a tile's working memory stays within this (L2-sized)
# operations a thread's chunk must hold at least: starting a thread costs tens of µs
THREAD_WORK = 2_000_000


def work_per_sample(graph: Graph) -> int:
    """Operations one sample takes, roughly: a matmul's multiply-adds, one per value elsewhere."""
    total = 0
    for node in graph.nodes():
        if node.op is Op.MATMUL:
            total += node.numel * graph[node.inputs[0]].shape[-1]
        elif node.op is Op.CONV:  # a window of every input channel of its group per value
            total += node.numel * math.prod(graph[node.inputs[1]].shape[1:])
        elif node.op not in (Op.INPUT, Op.CONST):
            total += node.numel
    return max(total, 1)


def tile_for(per_sample_bytes: int) -> int:
    """Samples per batch-kernel call: a power of two up to MAX_TILE whose working memory fits
    TILE_BYTES (one sample at least)."""
    tile = 1
    while tile < MAX_TILE and 2 * tile * per_sample_bytes <= TILE_BYTES:
        tile *= 2
    return tile


def working_memory(
    graph: Graph, abi: Abi, precision: str = "double", isa: Isa | None = None
) -> dict[str, int]:
    """What the library's entries allocate per call, in bytes, as build_module builds them:
    NAME_eval's workspace, the batch entry's (a tile of samples plus its row conversions; each
    thread of the threaded entry takes as much), the tile, the same for the typed row entries
    when there are any, and the size above which a workspace comes from malloc, not the stack."""
    precision = precision_for(graph, precision)
    widths = (abi.input_numel, abi.output.numel)
    figures = {"malloc_above_bytes": STACK_WORKSPACE_BYTES}
    entries = [("", (F64, F64))]
    if abi.row_kinds is not None:
        entries.append(("typed_", _row_elements(abi.row_kinds)))
    for prefix, types in entries:
        kernel_rows = types if is_formula(graph) else None
        single, *single_types = kernel_plan(graph, 1, precision, isa, kernel_rows)
        tile = tile_for(single.bytes)
        batch = single if tile == 1 else kernel_plan(graph, tile, precision, isa, kernel_rows)[0]
        one = _entry_bytes(single.bytes, 1, single_types, types, widths)
        figures[f"{prefix}eval_bytes"] = _with_clamped_row(one, types[0], widths[0], abi)[0]
        figures[f"{prefix}batch_bytes"] = _entry_bytes(
            batch.bytes, tile, single_types, types, widths
        )
        figures[f"{prefix}tile"] = tile
    return figures


def _row_elements(kinds: tuple[str, str]) -> tuple[ir.Type, ir.Type]:
    """The LLVM element types of x and y in the typed row entries of these kinds."""
    return _ROW_ELEMENTS[kinds[0]], _ROW_ELEMENTS[kinds[1]]


def _staging(
    tile: int, kernel_types: Sequence[ir.Type], types: Sequence[ir.Type], widths: Sequence[int]
) -> tuple[int, int]:
    """Bytes of the areas rows of x and y are converted into (and out of) when the entry's row
    types are not the kernel's: 0 when they are."""
    return tuple(
        tile * width * lane_bytes(kernel) if kernel != row else 0
        for kernel, row, width in zip(kernel_types, types, widths)
    )


def _entry_bytes(
    plan_bytes: int,
    tile: int,
    kernel_types: Sequence[ir.Type],
    types: Sequence[ir.Type],
    widths: Sequence[int],
) -> int:
    """The working memory of an entry: the kernel's workspace, then its staging areas."""
    staging_x, staging_y = _staging(tile, kernel_types, types, widths)
    return plan_bytes + _aligned(staging_x) + staging_y


def _with_clamped_row(memory: int, x_type: ir.Type, width: int, abi: Abi) -> tuple[int, int]:
    """A one-sample entry's working memory and where in it the clamped copy of x goes (clamp
    mode only: the row after the rest; otherwise nothing is added)."""
    if abi.outside != "clamp":
        return memory, memory
    at = _aligned(memory)
    return at + width * lane_bytes(x_type), at


_ROW_ELEMENTS = {"f32": F32, "f64": F64, "i64": I64}


class _Kernels:
    """The module's kernels, a single-sample one and a tile one per pair of row types."""

    def __init__(
        self, module: ir.Module, graph: Graph, input_numel: int, precision: str, isa: Isa | None
    ) -> None:
        self.module, self.graph, self.input_numel = module, graph, input_numel
        self.precision, self.isa = precision, isa
        self.pairs: dict[tuple[ir.Type, ir.Type] | None, tuple[Kernel, Kernel]] = {}

    def pair(self, rows: tuple[ir.Type, ir.Type] | None) -> tuple[Kernel, Kernel]:
        """(single-sample kernel, tile kernel) reading and writing rows of these types (None:
        the lanes of the inputs and output)."""
        if rows not in self.pairs:
            suffix = "" if rows is None else f"_{len(self.pairs)}"
            single = self._kernel(1, f"nnc_kernel{suffix}", rows)
            tile = tile_for(single.plan.bytes)
            batch = single if tile == 1 else self._kernel(tile, f"nnc_kernel_tile{suffix}", rows)
            self.pairs[rows] = (single, batch)
        return self.pairs[rows]

    def _kernel(self, tile: int, name: str, rows: tuple[ir.Type, ir.Type] | None) -> Kernel:
        return emit_kernel(
            self.module, self.graph, tile, self.input_numel, name, self.precision, self.isa, rows
        )


def build_module(
    graph: Graph,
    abi: Abi,
    triple: str = "",
    data_layout: str = "",
    precision: str = "double",
    isa: Isa | None = None,
) -> ir.Module:
    """The whole library as LLVM IR: kernels, the ABI's entry points and the metadata string.
    Values compute in `precision` (kernel.PRECISIONS); with `isa`, matmuls against constants run
    as GEMMs shaped for that vector unit."""
    module = ir.Module(name=abi.prefix)
    module.triple, module.data_layout = triple, data_layout
    precision = precision_for(graph, precision)
    kernels = _Kernels(module, graph, abi.input_numel, precision, isa)
    single, batch = kernels.pair(None)
    widths = (abi.input_numel, abi.output.numel)
    rows = [(F64, F64, abi.eval, abi.eval_batch)]
    if abi.row_kinds is not None:
        x_type, y_type = _row_elements(abi.row_kinds)
        rows.append((x_type, y_type, abi.typed_eval(abi.rows), abi.typed_eval_batch(abi.rows)))
    for x_type, y_type, one, many in rows:
        if is_formula(graph):  # a formula's kernels are small: one pair per row type, no staging
            single, batch = kernels.pair((x_type, y_type))
        one_fn = _define_rows(module, one, single, abi, (x_type, y_type))
        batch_fn = _define_rows(module, many, batch, abi, (x_type, y_type), one_fn)
        row_bytes = [lane_bytes(x_type) * widths[0], lane_bytes(y_type) * widths[1]]
        least = -(-THREAD_WORK // work_per_sample(graph))
        emit_threaded_batch(module, abi.threaded(many), batch_fn, row_bytes, batch.tile, least)
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
def _checked_n(
    fn: ir.Function, batched: bool = True, counting: bool = False
) -> Iterator[tuple[ir.IRBuilder, ir.Value | None]]:
    """The body of an entry whose first argument is n: -1 when n < 0, else the body, then 0 — or,
    `counting`, the count the body keeps in the i64 slot it is given (samples outside the
    domain). No check of n for an entry without it."""
    entry = fn.append_basic_block("entry")
    b = ir.IRBuilder(entry)
    count = _slot(b, I64) if counting else None
    if batched:
        work, bad = fn.append_basic_block("work"), fn.append_basic_block("bad")
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


def _slot(b: ir.IRBuilder, kind: ir.IntType) -> ir.Value:
    """An integer slot set to 0 here, allocated in the entry block (where LLVM promotes it)."""
    with b.goto_entry_block():
        slot = b.alloca(kind)
    b.store(ir.Constant(kind, 0), slot)
    return slot


def _define_rows(
    module: ir.Module,
    name: str,
    kernel: Kernel,
    abi: Abi,
    types: tuple[ir.Type, ir.Type],
    single: ir.Function | None = None,
) -> ir.Function:
    """`int name(int64_t n, const X *x, Y *y)` (or, without `single`, `int name(const X *x, Y *y)`
    for one sample): tiles of the kernel, each with the samples left; rows of another element
    type than the kernel's are converted into (and out of) a staging area after its workspace.
    x may overlap y (in place): it is then copied first. Under the domain guard, a sample
    outside gets the sentinel and is counted; a batch holding any such row runs every row
    through `single`, the one-sample entry of the same types."""
    batched = single is not None
    (x_type, y_type), widths = types, (abi.input_numel, abi.output.numel)
    width_in, width_out = widths
    params = [I64, PTR, PTR] if batched else [PTR, PTR]
    fn = ir.Function(module, ir.FunctionType(I32, params), name)
    x, y = fn.args[-2:]
    convert_x, convert_y = x_type != kernel.x_type, y_type != kernel.y_type
    kernel_types = (kernel.x_type, kernel.y_type)
    staging_x, _ = _staging(kernel.tile, kernel_types, types, widths)
    memory = _entry_bytes(kernel.plan.bytes, kernel.tile, kernel_types, types, widths)
    memory, clamped_at = (
        (memory, memory) if batched else _with_clamped_row(memory, x_type, width_in, abi)
    )
    guarded = abi.outside != "allow"
    with contextlib.ExitStack() as stack:
        b, outside = stack.enter_context(_checked_n(fn, batched, counting=guarded))
        n = fn.args[0] if batched else i64(1)
        sizes = [b.mul(n, i64(width * lane_bytes(t))) for width, t in zip(widths, types)]
        (x,) = stack.enter_context(inputs_apart(fn, b, [(x, sizes[0])], (y, sizes[1])))
        if batched and guarded:
            assert single is not None and outside is not None
            every_row_inside = _rows_one_by_one_when_outside(b, abi, single, (x, y), types, outside)
            stack.enter_context(b.if_then(every_row_inside))
        workspace = stack.enter_context(with_workspace(fn, b, memory))
        area_x = b.gep(workspace, [i64(kernel.plan.bytes)], source_etype=I8)
        area_y = b.gep(area_x, [i64(_aligned(staging_x))], source_etype=I8)
        areas = (area_x if convert_x else None, area_y if convert_y else None)

        def run(first: ir.Value, count: ir.Value, source: ir.Value = x) -> None:
            """The kernel on `count` samples from sample `first`, converting rows on the way."""
            rows_x = _row(b, source, first, width_in, x_type)
            rows_y = _row(b, y, first, width_out, y_type)
            if areas[0] is not None:
                elements = b.mul(count, i64(width_in))
                _convert_rows(fn, b, areas[0], kernel.x_type, rows_x, x_type, elements)
            kernel_x, kernel_y = areas[0] or rows_x, areas[1] or rows_y
            b.call(kernel.fn, [count, kernel_x, kernel_y, workspace])
            if areas[1] is not None:
                elements = b.mul(count, i64(width_out))
                _convert_rows(fn, b, rows_y, y_type, areas[1], kernel.y_type, elements)

        if not batched and guarded:
            assert outside is not None
            row = x
            if abi.outside == "clamp":
                row = b.gep(workspace, [i64(clamped_at)], source_etype=I8)
                inside = staged_row(b, x, row, abi.domain, x_type)
            else:
                inside = row_inside(b, x, abi.domain, x_type)
            with b.if_else(inside) as (compute, refuse):
                with compute:
                    run(i64(0), i64(1), row)
                with refuse:
                    fill(b, y, width_out, _row_sentinel(abi, y_type))
                    b.store(i64(1), outside)
            return fn
        # whole tiles with a constant count (the kernel, when inlined, specialises for it), then
        # the samples left
        whole = b.sdiv(n, i64(kernel.tile))
        with counted(fn, b, whole) as t:
            run(b.mul(t, i64(kernel.tile)), i64(kernel.tile))
        first = b.mul(whole, i64(kernel.tile))
        left = b.sub(n, first)
        with b.if_then(b.icmp_signed(">", left, i64(0))):
            run(first, left)
    return fn


def _rows_one_by_one_when_outside(
    b: ir.IRBuilder,
    abi: Abi,
    single: ir.Function,
    rows: tuple[ir.Value, ir.Value],
    types: tuple[ir.Type, ir.Type],
    refused: ir.Value,
) -> ir.Value:
    """Count the rows outside the domain; when there are any, run the one-sample entry on every
    row, adding up how many got the sentinel into `refused`. i1: no row lay outside (the tiles
    are to run)."""
    fn, (x, y), (x_type, y_type) = b.function, rows, types
    n = fn.args[0]
    outside = _slot(b, I64)
    with counted(fn, b, n) as r:
        inside = row_inside(b, _row(b, x, r, abi.input_numel, x_type), abi.domain, x_type)
        b.store(b.add(b.load(outside), b.zext(b.not_(inside), I64)), outside)
    every_row_inside = b.icmp_signed("==", b.load(outside), i64(0))
    with b.if_then(b.not_(every_row_inside)), counted(fn, b, n) as r:
        one = [_row(b, x, r, abi.input_numel, x_type), _row(b, y, r, abi.output.numel, y_type)]
        status = b.call(single, one)
        b.store(b.add(b.load(refused), b.sext(status, I64)), refused)
    return every_row_inside


def _row_sentinel(abi: Abi, element: ir.Type) -> ir.Constant:
    """What a row of this element type holds for a sample outside the domain: -1 for integer
    outputs (as -1.0 in real rows), NaN for real ones."""
    if abi.output_integer and not isinstance(element, ir.IntType):
        return ir.Constant(element, -1.0)
    return sentinel(element)


def _aligned(size: int) -> int:
    return -(-size // ALIGNMENT) * ALIGNMENT


def _row(b: ir.IRBuilder, base: ir.Value, row: ir.Value, width: int, element: ir.Type) -> ir.Value:
    return b.gep(base, [b.mul(row, i64(width))], source_etype=element)


def _convert_rows(
    fn: ir.Function,
    b: ir.IRBuilder,
    target: ir.Value,
    target_type: ir.Type,
    source: ir.Value,
    source_type: ir.Type,
    count: ir.Value,
) -> None:
    """target[i] = convert(source[i]) for `count` elements (rounding as `convert` does)."""
    with counted(fn, b, count) as i:
        value = b.load(b.gep(source, [i], source_etype=source_type), typ=source_type)
        b.store(convert(b, value, target_type), b.gep(target, [i], source_etype=target_type))


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
    x_type, y_type = kernel.x_type, kernel.y_type
    x = b.alloca(x_type, size=i64(max(abi.input_numel, 1)))
    y = b.alloca(y_type)
    for arg, value in zip(abi.scalar_args, _guarded_args(fn, b, abi, list(fn.args))):
        b.store(convert(b, value, x_type), b.gep(x, [i64(arg.position)], source_etype=x_type))
    for position, constant in abi.constants:
        constant_value = convert(b, ir.Constant(F64, constant), x_type)
        b.store(constant_value, b.gep(x, [i64(position)], source_etype=x_type))
    failure = ir.Constant(result_type, -1 if abi.output_integer else float("nan"))
    with with_workspace(fn, b, kernel.plan.bytes, failure) as memory:
        b.call(kernel.fn, [i64(1), x, y, memory])
    b.ret(convert(b, b.load(y, typ=y_type), result_type))
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
