"""Softmax and layer norm over the last axis, found in the Graph as torch decomposes them and
computed row by row in one loop nest: a row is read, reduced and written while it is in cache,
with no intermediate buffers for the whole tile.

    softmax:    m = amax(x); e = exp(x - m); y = e / sum(e)
    layer norm: d = x - sum(x)/L; y = d * rsqrt(sum(d·d)/L + eps) [* gamma] [+ beta]

Each group's inner values (max, exp, mean, variance...) have no reader outside the group; its last
node's buffer receives the rows. Sums accumulate in double, as the reduction emitter's do.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from llvmlite import ir
from nnc.graph import Graph, Node
from nnc.ops import Op

from .kernel import F32, F64, Buffer, Kernel, call_math, constant_bytes, convert, i64
from .lane_math import exp_f32

__all__ = ["RowPlan", "emit_rows", "plan_rows"]

_FLOATS = ("float32", "float64")


@dataclass(frozen=True)
class RowPlan:
    """One softmax or layer norm over rows of `length` values of `source`, into `output`."""

    kind: str  # "softmax" | "layernorm"
    source: str
    output: str
    nodes: tuple[str, ...]  # every node the row kernel computes (output included)
    length: int
    eps: float = 0.0
    scale: np.ndarray | None = None  # gamma, (length,)
    shift: np.ndarray | None = None  # beta, (length,)


def plan_rows(graph: Graph) -> dict[str, RowPlan]:
    """Every softmax and layer norm of the graph, keyed by output node (from the last node
    back, so a layer norm takes its scale and shift along)."""
    plans = {}
    for node in reversed(list(graph.nodes())):
        found = _softmax(graph, node) or _layernorm(graph, node)
        if found is not None and not set(found.nodes) & {
            n for p in plans.values() for n in p.nodes
        }:
            plans[found.output] = found
    return plans


def _input(graph: Graph, node: Node, index: int, op: Op) -> Node | None:
    found = graph[node.inputs[index]] if index < len(node.inputs) else None
    return found if found is not None and found.op is op else None


def _last_axis(node: Node) -> bool:
    """A keepdim reduction over the last axis."""
    return tuple(node.attrs.get("dims", ())) == (len(node.shape) - 1,) and node.attrs["keepdim"]


def _scalar(graph: Graph, name: str) -> float | None:
    node = graph[name]
    if node.op is Op.CONST and node.value is not None and node.value.numel() == 1:
        return float(node.value.reshape(()))
    return None


def _vector(graph: Graph, name: str, length: int) -> np.ndarray | None:
    node = graph[name]
    if node.op is not Op.CONST or node.value is None or node.shape[-1:] != (length,):
        return None
    if math.prod(node.shape[:-1]) != 1:
        return None
    return node.value.detach().double().reshape(-1).numpy()


def _inner_only(graph: Graph, inner: list[Node], group: set[str]) -> bool:
    """The group's inner values have readers in the group only and are no graph output."""
    return all(
        n.name not in graph.outputs and set(graph.users(n.name)) <= group for n in inner
    ) and all(n.dtype in _FLOATS for n in inner)


def _softmax(graph: Graph, div: Node) -> RowPlan | None:
    if div.op is not Op.DIV:
        return None
    exp, total = _input(graph, div, 0, Op.EXP), _input(graph, div, 1, Op.SUM)
    shifted = _input(graph, exp, 0, Op.SUB) if exp else None
    peak = _input(graph, shifted, 1, Op.AMAX) if shifted else None
    if None in (exp, total, shifted, peak) or total.inputs[0] != exp.name:
        return None
    if peak.inputs[0] != shifted.inputs[0] or not (_last_axis(peak) and _last_axis(total)):
        return None
    inner = [peak, shifted, exp, total]
    if not _inner_only(graph, inner, {n.name for n in inner} | {div.name}):
        return None
    source = shifted.inputs[0]
    return RowPlan("softmax", source, div.name, tuple(n.name for n in (*inner, div)), div.shape[-1])


def _mean_of(graph: Graph, div: Node | None, length: int) -> Node | None:
    """The SUM a DIV by `length` divides: sum(v)/L as torch's layer norm writes the mean."""
    if div is None or div.op is not Op.DIV or _scalar(graph, div.inputs[1]) != length:
        return None
    total = _input(graph, div, 0, Op.SUM)
    return total if total is not None and _last_axis(total) else None


def _layernorm(graph: Graph, last: Node) -> RowPlan | None:
    """From the group's last node back: [add beta] ← [mul gamma] ← mul(d, rsqrt(var + eps))."""
    tail, node = [], last
    length = last.shape[-1] if last.shape else 0
    shift = scale = None
    if node.op is Op.ADD and (beta := _vector(graph, node.inputs[1], length)) is not None:
        shift, tail, node = beta, [node], graph[node.inputs[0]]
    if node.op is Op.MUL and (gamma := _vector(graph, node.inputs[1], length)) is not None:
        scale, tail, node = gamma, [*tail, node], graph[node.inputs[0]]
    norm = node if node.op is Op.MUL else None
    rsqrt = _input(graph, norm, 1, Op.RSQRT) if norm else None
    plus = _input(graph, rsqrt, 0, Op.ADD) if rsqrt else None
    variance = _mean_of(graph, graph[plus.inputs[0]], length) if plus else None
    squares = _input(graph, variance, 0, Op.MUL) if variance else None
    centred = _input(graph, norm, 0, Op.SUB) if norm else None
    if None in (rsqrt, plus, variance, squares, centred):
        return None
    eps = _scalar(graph, plus.inputs[1])
    mean = _mean_of(graph, graph[centred.inputs[1]], length)
    if eps is None or mean is None or squares.inputs != (centred.name, centred.name):
        return None
    if mean.inputs[0] != centred.inputs[0]:
        return None
    inner = [
        mean,
        graph[centred.inputs[1]],
        centred,
        squares,
        variance,
        graph[plus.inputs[0]],
        plus,
        rsqrt,
        norm,
        *tail[::-1],
    ]
    group = {n.name for n in inner}
    if not _inner_only(graph, [n for n in inner if n.name != last.name], group):
        return None
    nodes = tuple(dict.fromkeys(n.name for n in inner))
    return RowPlan("layernorm", mean.inputs[0], last.name, nodes, length, eps, scale, shift)


def emit_rows(k: Kernel, plan: RowPlan) -> Buffer:
    """The group's output for every row of every sample, each row in three passes."""
    x = k.buffers[plan.source]
    out = k.new_buffer(k.graph[plan.output])
    lane, length = out.lane, plan.length
    rows = math.prod(out.shape) // length
    with k.samples(), k.loop(rows) as row:
        base = k.b.mul(row, i64(length))
        _ROWS[plan.kind](k, plan, x, out, base, lane)
    return out


def _sweep(k: Kernel, length: int, base: ir.Value, body: Callable[[ir.Value], None]) -> None:
    with k.loop(length) as i:
        body(k.b.add(base, i))


def _accumulate(k: Kernel, start: float, lane: ir.Type) -> ir.Value:
    slot = k.scratch(lane)
    k.b.store(ir.Constant(lane, start), slot)
    return slot


def _softmax_row(
    k: Kernel, plan: RowPlan, x: Buffer, out: Buffer, base: ir.Value, lane: ir.Type
) -> None:
    b, length = k.b, plan.length
    peak = _accumulate(k, -math.inf, lane)
    _sweep(
        k,
        length,
        base,
        lambda at: b.store(
            call_math(
                b,
                k.module,
                f"llvm.maximum.{_suffix(lane)}",
                [b.load(peak, typ=lane), k.load(x, at, lane)],
            ),
            peak,
        ),
    )
    top, total = b.load(peak, typ=lane), _accumulate(k, 0.0, F64)

    def exponentiate(at: ir.Value) -> None:
        e = _exp(k, b.fsub(k.load(x, at, lane), top))
        k.store(out, at, e)
        b.store(b.fadd(b.load(total, typ=F64), convert(b, e, F64)), total)

    _sweep(k, length, base, exponentiate)
    denominator = convert(b, b.load(total, typ=F64), lane)
    _sweep(k, length, base, lambda at: k.store(out, at, b.fdiv(k.load(out, at, lane), denominator)))


def _layernorm_row(
    k: Kernel, plan: RowPlan, x: Buffer, out: Buffer, base: ir.Value, lane: ir.Type
) -> None:
    b, length = k.b, plan.length
    total = _accumulate(k, 0.0, F64)
    _sweep(
        k,
        length,
        base,
        lambda at: b.store(b.fadd(b.load(total, typ=F64), k.load(x, at, F64)), total),
    )
    mean = convert(b, b.fdiv(b.load(total, typ=F64), ir.Constant(F64, length)), lane)
    squares = _accumulate(k, 0.0, F64)

    def square(at: ir.Value) -> None:
        d = convert(b, b.fsub(k.load(x, at, lane), mean), F64)
        b.store(b.fadd(b.load(squares, typ=F64), b.fmul(d, d)), squares)

    _sweep(k, length, base, square)
    variance = b.fdiv(b.load(squares, typ=F64), ir.Constant(F64, length))
    variance = convert(b, b.fadd(convert(b, variance, lane), ir.Constant(lane, plan.eps)), lane)
    inverse = b.fdiv(
        ir.Constant(lane, 1.0), call_math(b, k.module, f"llvm.sqrt.{_suffix(lane)}", [variance])
    )
    scale = _table(k, plan, "scale", plan.scale, lane)
    shift = _table(k, plan, "shift", plan.shift, lane)

    def normalise(at: ir.Value) -> None:
        value = b.fmul(b.fsub(k.load(x, at, lane), mean), inverse)
        column = b.sub(at, base)
        if scale is not None:
            value = b.fmul(value, k.load(scale, column, lane))
        if shift is not None:
            value = b.fadd(value, k.load(shift, column, lane))
        k.store(out, at, value)

    _sweep(k, length, base, normalise)


def _table(
    k: Kernel, plan: RowPlan, role: str, values: np.ndarray | None, lane: ir.Type
) -> Buffer | None:
    """gamma or beta as a constant global in the lane's precision (shared by the kernels)."""
    if values is None:
        return None
    dtype = np.float32 if lane == F32 else np.float64
    table = constant_bytes(k.module, f"{role}_{plan.output}", values.astype(dtype))
    return Buffer(table, lane, lane, (plan.length,), 0)


def _exp(k: Kernel, value: ir.Value) -> ir.Value:
    if value.type == F32:
        return exp_f32(k.b, value)
    return call_math(k.b, k.module, "llvm.exp.f64", [value])


def _suffix(lane: ir.Type) -> str:
    return "f32" if lane == F32 else "f64"


_ROWS = {"softmax": _softmax_row, "layernorm": _layernorm_row}
