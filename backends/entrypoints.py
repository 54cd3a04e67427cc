"""The library's exported functions, as the Abi describes them, around the kernel codegen.py emits:
NAME_eval, NAME_eval_batch, NAME_metadata, the scalar form and the typed column entries."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from llvmlite import ir
from nnc.expr_ranges import fits_int32
from nnc.graph import Graph, Node
from nnc.ops import Op

from .abi import Abi
from .closed_forms import ExprEmitter
from .codegen import F32, F64, I32, I64, PTR, convert, emit_kernel, lane_of

__all__ = ["build_module"]

I8 = ir.IntType(8)


def _i64(value: int) -> ir.Constant:
    return ir.Constant(I64, value)


def build_module(graph: Graph, abi: Abi, triple: str = "", data_layout: str = "") -> ir.Module:
    """The whole library as LLVM IR: kernel, the ABI's entry points and the metadata string."""
    module = ir.Module(name=abi.prefix)
    module.triple, module.data_layout = triple, data_layout
    kernel = emit_kernel(module, graph)
    _define_eval(module, abi, kernel)
    _define_eval_batch(module, abi, kernel)
    _define_metadata(module, abi)
    if abi.scalar_args is not None:
        output = graph[graph.outputs[0]]
        closed = (
            output.op is Op.EXPR
            and set(output.inputs) <= set(graph.inputs)
            and not output.attrs.get("rowwise")
        )
        if closed:
            scalar = _define_scalar_closed_form(module, abi, output)
        else:
            scalar = _define_scalar(module, abi, kernel)
        for suffix in abi.columns:
            _define_columns(module, abi, suffix, scalar, output if closed else None)
    return module


def _define_eval(module: ir.Module, abi: Abi, kernel: ir.Function) -> None:
    fn = ir.Function(module, ir.FunctionType(I32, [PTR, PTR]), abi.eval)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    b.call(kernel, list(fn.args))
    b.ret(ir.Constant(I32, 0))


@contextlib.contextmanager
def _sample_loop(fn: ir.Function) -> Iterator[tuple[ir.IRBuilder, ir.Value]]:
    """The body of `for (i = 0; i < n; i++)` over fn's first argument n; the function returns 0,
    or -1 when n < 0. Yields the builder inside the loop and i."""
    n = fn.args[0]
    entry, head, body, done, bad = (
        fn.append_basic_block(s) for s in ("entry", "loop", "body", "done", "bad")
    )
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed("<", n, _i64(0)), bad, head)
    b.position_at_end(head)
    i = b.phi(I64)
    i.add_incoming(_i64(0), entry)
    b.cbranch(b.icmp_signed("<", i, n), body, done)
    b.position_at_end(body)
    yield b, i
    i.add_incoming(b.add(i, _i64(1)), b.block)
    b.branch(head)
    b.position_at_end(done)
    b.ret(ir.Constant(I32, 0))
    b.position_at_end(bad)
    b.ret(ir.Constant(I32, -1))


def _define_eval_batch(module: ir.Module, abi: Abi, kernel: ir.Function) -> None:
    """for (i = 0; i < n; i++) kernel(x + i*in, y + i*out)"""
    fn = ir.Function(module, ir.FunctionType(I32, [I64, PTR, PTR]), abi.eval_batch)
    _, x, y = fn.args
    with _sample_loop(fn) as (b, i):
        xi = b.gep(x, [b.mul(i, _i64(abi.input_numel))], source_etype=F64)
        yi = b.gep(y, [b.mul(i, _i64(abi.output.numel))], source_etype=F64)
        b.call(kernel, [xi, yi])


def _define_metadata(module: ir.Module, abi: Abi) -> None:
    text = bytearray(abi.metadata_json().encode() + b"\0")
    data = ir.GlobalVariable(module, ir.ArrayType(I8, len(text)), name="nnc_metadata_json")
    data.linkage = "internal"
    data.global_constant = True
    data.initializer = ir.Constant(ir.ArrayType(I8, len(text)), text)
    fn = ir.Function(module, ir.FunctionType(PTR, []), abi.metadata_symbol)
    ir.IRBuilder(fn.append_basic_block("entry")).ret(data)


def _define_scalar(module: ir.Module, abi: Abi, kernel: ir.Function) -> ir.Function:
    """NAME(a, b, ...): fills x with the arguments and the spec's constants, returns y[0]."""
    assert abi.scalar_args is not None
    params = [I64 if a.integer else F64 for a in abi.scalar_args]
    result_type = I64 if abi.output_integer else F64
    fn = ir.Function(module, ir.FunctionType(result_type, params), abi.prefix)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    x = b.alloca(F64, size=_i64(max(abi.input_numel, 1)))
    y = b.alloca(F64)
    for arg, value in zip(abi.scalar_args, fn.args):
        b.store(convert(b, value, F64), b.gep(x, [_i64(arg.position)], source_etype=F64))
    for position, constant in abi.constants:
        b.store(ir.Constant(F64, constant), b.gep(x, [_i64(position)], source_etype=F64))
    b.call(kernel, [x, y])
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
    symbols = {a.name: convert(b, v, lane) for a, v in zip(abi.scalar_args, fn.args)}
    value = ExprEmitter(b, module, symbols, lane, node.attrs.get("bounds")).value(
        node.attrs["expr"]
    )
    b.ret(convert(b, value, result_type))
    return fn


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
    with _sample_loop(fn) as (b, i):
        loaded = [b.load(b.gep(c, [i], source_etype=element), typ=element) for c in columns]
        if closed is not None:
            bounds = closed.attrs.get("bounds") or {}
            lane = lane_of(closed.dtype)
            if suffix == "i32" and fits_int32(closed.attrs["expr"], bounds):
                lane = I32
            symbols = {a.name: _tolane_of(b, v, lane) for a, v in zip(abi.scalar_args, loaded)}
            result = ExprEmitter(b, module, symbols, lane, bounds).value(closed.attrs["expr"])
        else:
            params = [p.type for p in scalar.args]
            result = b.call(scalar, [_tolane_of(b, v, t) for v, t in zip(loaded, params)])
        b.store(_tolane_of(b, result, element), b.gep(out, [i], source_etype=element))


def _tolane_of(b: ir.IRBuilder, value: ir.Value, lane: ir.Type) -> ir.Value:
    """Convert between i32, i64, float and double (sign-extending, truncating, rounding)."""
    source = value.type
    if source == lane:
        return value
    if isinstance(source, ir.IntType) and isinstance(lane, ir.IntType):
        return (b.sext if source.width < lane.width else b.trunc)(value, lane)
    if isinstance(source, ir.IntType):
        return b.sitofp(value, lane)
    if isinstance(lane, ir.IntType):
        return b.fptosi(value, lane)
    return (b.fpext if lane == F64 else b.fptrunc)(value, lane)
