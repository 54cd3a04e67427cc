"""A graph evaluated symbolically: its per-sample outputs as sympy expressions over the named input
elements, while they stay small. The `lower` pass uses it to replace small networks by their
exact closed form, and the Artifact to print the exact form of a small faithful network.

Every tensor becomes a numpy array of sympy expressions and every op acts elementwise on them as
its reference does on numbers. Evaluation stops as soon as a value grows past MAX_OPS operations,
or meets an op with no exact scalar form (e.g. an index that depends on an input).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sympy

from .bounds import Interval, node_bounds
from .graph import Graph, Node
from .ops import Op, is_integer_dtype
from .spec import InputSpec

__all__ = ["MAX_OPS", "SYMBOLIC", "symbolic_outputs"]

MAX_OPS = 120  # operations in the whole closed form beyond which the network stays a network
MAX_CONSTANT = 4 * MAX_OPS  # a constant larger than this cannot feed a closed form that small


class _TooLarge(Exception):
    """The expression outgrew MAX_OPS, or an op has no exact scalar form."""


def _elementwise(function: Callable[..., sympy.Expr]) -> Callable[..., np.ndarray]:
    vectorized = np.vectorize(function, otypes=[object])
    return lambda node, *args: vectorized(*args)


def _reduce(function: Callable[[Any], Any]) -> Callable[..., np.ndarray]:
    def apply(node: Node, x: np.ndarray) -> np.ndarray:
        dims = tuple(node.attrs["dims"])
        out = np.apply_over_axes(
            lambda a, axis: np.expand_dims(np.apply_along_axis(function, axis, a), axis), x, dims
        )
        return out if node.attrs["keepdim"] else out.reshape(node.shape)

    return apply


def _no_scalar_form(node: Node, *args: np.ndarray) -> np.ndarray:
    raise _TooLarge(node.op.value)


def _slice(node: Node, x: np.ndarray) -> np.ndarray:
    index = [slice(None)] * x.ndim
    a = node.attrs
    index[a["dim"]] = slice(a["start"], a["end"], a["step"])
    return x[tuple(index)]


# op → how it acts on arrays of sympy expressions
SYMBOLIC: dict[Op, Callable[..., np.ndarray]] = {
    Op.NEG: lambda n, x: -x,
    Op.ABS: _elementwise(sympy.Abs),
    Op.EXP: _elementwise(sympy.exp),
    Op.LOG: _elementwise(sympy.log),
    Op.LOG1P: _elementwise(lambda v: sympy.log(1 + v)),
    Op.SIN: _elementwise(sympy.sin),
    Op.COS: _elementwise(sympy.cos),
    Op.SQRT: _elementwise(sympy.sqrt),
    Op.RSQRT: _elementwise(lambda v: 1 / sympy.sqrt(v)),
    Op.TANH: _elementwise(sympy.tanh),
    Op.SIGMOID: _elementwise(lambda v: 1 / (1 + sympy.exp(-v))),
    Op.RELU: _elementwise(lambda v: sympy.Max(v, 0)),
    Op.ERF: _elementwise(sympy.erf),
    Op.CAST: _no_scalar_form,  # symbolic_outputs converts with _cast: it needs the source type
    Op.ADD: lambda n, x, y: x + y,
    Op.SUB: lambda n, x, y: x - y,
    Op.MUL: lambda n, x, y: x * y,
    Op.DIV: lambda n, x, y: x / y,
    Op.POW: _elementwise(lambda a, b: a**b),
    Op.MAXIMUM: _elementwise(sympy.Max),
    Op.MINIMUM: _elementwise(sympy.Min),
    Op.SUM: _reduce(lambda v: sympy.Add(*v)),
    Op.AMAX: _reduce(lambda v: sympy.Max(*v)),
    Op.AMIN: _reduce(lambda v: sympy.Min(*v)),
    Op.MATMUL: lambda n, x, y: np.matmul(x, y),
    Op.RESHAPE: lambda n, x: x.reshape(n.shape),
    Op.PERMUTE: lambda n, x: x.transpose(n.attrs["dims"]),
    Op.EXPAND: lambda n, x: np.broadcast_to(x, n.shape),
    Op.SLICE: _slice,
    Op.CAT: lambda n, *xs: np.concatenate(xs, axis=n.attrs["dim"]),
    Op.DIV_ROUNDED: lambda n, x, y: _rounded_quotient(n, x, y),
    Op.MOD: lambda n, x, y: _remainder(n, x, y),
    Op.BITWISE: lambda n, x, y: _shift(n, x, y),
    Op.CONV: _no_scalar_form,  # linear, but its closed form is never small
    Op.POOL: _no_scalar_form,
    Op.EXPR: lambda n, *xs: _substitute(n, xs),
}


def _rounded_quotient(node: Node, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """floor(x / y); trunc rounding has no sympy form nnc emits."""
    if node.attrs["rounding"] != "floor":
        raise _TooLarge("trunc division")
    return _elementwise(lambda a, b: sympy.floor(a / b))(node, x, y)


def _remainder(node: Node, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mod(x, y), Python's remainder (sympy's Mod has the divisor's sign, as "floor")."""
    if node.attrs["rounding"] != "floor":
        raise _TooLarge("fmod")
    return _elementwise(sympy.Mod)(node, x, y)


def _shift(node: Node, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Shifts by constants are products and floor quotients by powers of two; other bit
    operations have no scalar form here."""
    fn = node.attrs["fn"]
    if fn not in ("left_shift", "right_shift") or not all(
        isinstance(v, sympy.Integer) and 0 <= v <= 62 for v in np.asarray(y).flat
    ):
        raise _TooLarge(fn)
    if fn == "left_shift":
        return _elementwise(lambda a, s: a * 2**s)(node, x, y)
    return _elementwise(lambda a, s: sympy.floor(a / 2**s))(node, x, y)


def _substitute(node: Node, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
    if node.attrs.get("rowwise"):
        raise _TooLarge("rowwise expr")
    values = {
        sympy.Symbol(name): inputs[position].reshape(-1)[element]
        for name, position, element in node.attrs["bindings"]
    }
    return np.array([node.attrs["expr"].xreplace(values)], dtype=object).reshape(node.shape)


def _constant(node: Node) -> np.ndarray:
    """Weights as sympy numbers: integers exact, others as 8-digit floats; a constant holding
    inf or NaN (an attention mask's -inf) has no scalar form nnc emits."""
    values = node.value.detach().double().numpy()
    if not np.isfinite(values).all():
        raise _TooLarge(f"{node.name} holds inf or NaN")
    return np.vectorize(
        lambda v: sympy.Float(float(v), 8) if v != int(v) else sympy.Integer(int(v)),
        otypes=[object],
    )(values)


def _terms_bound(graph: Graph, node: Node) -> int:
    """A cheap lower bound on the operations a node's values will hold: a matmul output element
    sums as many products as the contraction is long; a sum, as many terms as it reduces."""
    if node.op is Op.MATMUL:
        inner = graph[node.inputs[0]].shape[-1]
        return 2 * inner * node.numel - node.numel
    if node.op is Op.SUM:
        source = graph[node.inputs[0]]
        return max(0, source.numel - node.numel)
    return 0


# narrow integer dtypes → (bits, signed): torch's values wrap around at these widths
_NARROW = {"int32": (32, True), "int16": (16, True), "int8": (8, True), "uint8": (8, False)}


def _cast(node: Node, source_dtype: str, x: np.ndarray) -> np.ndarray:
    """Conversions between integers and to floats keep the value (narrow targets are wrapped
    by the caller); float → integer truncation and → bool have no scalar form here."""
    if node.dtype.startswith(("float", "bfloat")) or (
        node.dtype != "bool" and is_integer_dtype(source_dtype) and source_dtype != "bool"
    ):
        return x
    raise _TooLarge(f"cast {source_dtype} to {node.dtype}")


def _wrapped(dtype: str, x: np.ndarray) -> np.ndarray:
    """Values of a narrow integer type as torch computes them, wrapping around:
    Mod(v + 2^(b-1), 2^b) - 2^(b-1), or Mod(v, 2^b) unsigned."""
    bits, signed = _NARROW[dtype]
    half = 2 ** (bits - 1) if signed else 0
    return _elementwise(lambda v: sympy.Mod(v + half, 2**bits) - half)(None, x)


class _NarrowRanges:
    """Whether a narrow integer node provably stays in its type's range over the domain (then its
    values need no wrapping); bounds are computed once, on first need."""

    def __init__(self, graph: Graph, specs: Sequence[InputSpec] | None) -> None:
        self.graph, self.specs = graph, specs
        self.bounds: dict[str, Interval] | None = None

    def fits(self, node: Node) -> bool:
        if self.specs is None:
            return False
        if self.bounds is None:
            self.bounds = node_bounds(self.graph, self.specs)
        bits, signed = _NARROW[node.dtype]
        low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        lo, hi = self.bounds[node.name]
        return bool((lo >= low).all() and (hi <= high).all())


def symbolic_outputs(
    graph: Graph, names: dict[str, list[str]], specs: Sequence[InputSpec] | None = None
) -> list[sympy.Expr] | None:
    """The graph's per-sample outputs as sympy expressions over the named input elements
    (input node → element names), or None when they are too large or have no scalar form.
    Narrow integer values (int32, ...) wrap around as torch's do, unless the domain the specs
    declare keeps them in range."""
    env: dict[str, np.ndarray] = {}
    ranges = _NarrowRanges(graph, specs)
    try:
        for node in graph.nodes():
            if node.op is Op.INPUT:
                symbols = [sympy.Symbol(n) for n in names[node.name]]
                env[node.name] = np.array(symbols, dtype=object).reshape(node.shape)
            elif node.op is Op.CONST:
                if node.numel > MAX_CONSTANT:
                    raise _TooLarge(node.name)  # no small closed form reads this many weights
                env[node.name] = _constant(node)
            else:
                if _terms_bound(graph, node) > MAX_OPS:
                    raise _TooLarge(node.name)  # known too large before building anything
                args = [env[i] for i in node.inputs]
                if node.op is Op.CAST:
                    value = _cast(node, graph[node.inputs[0]].dtype, args[0])
                else:
                    value = SYMBOLIC.get(node.op, _no_scalar_form)(node, *args)
                value = np.asarray(value, dtype=object)
                if node.dtype in _NARROW and not ranges.fits(node):
                    value = _wrapped(node.dtype, value)
                if sum(sympy.count_ops(v) for v in value.flat) > MAX_OPS:
                    raise _TooLarge(node.name)
                env[node.name] = value
    except (_TooLarge, TypeError, ValueError):
        return None
    return list(env[graph.outputs[0]].flat)
