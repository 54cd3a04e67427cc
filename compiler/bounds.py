"""Interval bounds of every node over the declared input domain: an analysis of the IR.

Interval bound propagation: each node gets elementwise float64 tensors (lo, hi), shaped like the
node, with lo <= value <= hi at every point of the domain (up to floating-point rounding). Pruning
uses them to prove a unit dead or always active; a backend may use them to pick narrow lanes.

    %x : f32[1, 2] = input(spec=x)              x in [1, 3] × [-1, 1]
    %w : f32[2, 2] = const(1, 0, 1, 2)
    %h : f32[1, 2] = matmul(%x, %w)             bounds ([[0, -2]], [[4, 2]])
    %r : f32[1, 2] = relu(%h)                   bounds ([[0, 0]], [[4, 2]])

Rules, one per op in BOUND_RULES: monotone functions map their endpoints; products, quotients and
powers take the hull of their corner values; a matmul is the interval matrix product in
center/radius form (exact when either operand is a point); movement ops move both endpoints;
reductions and pooling windows reduce them; a convolution is an interval product like a matmul;
integer division and remainders follow the divisor's sign; an op with no row is unbounded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from .errors import InputError
from .graph import Graph, Node
from .ops import OP_TABLE, Op, is_integer_dtype
from .spec import InputSpec

__all__ = ["BOUND_RULES", "Interval", "node_bounds"]

Interval = tuple[torch.Tensor, torch.Tensor]
BoundRule = Callable[[Node, list[Interval]], Interval]

INF = math.inf
# Matmul clamps infinite endpoints to ±BIG so that 0 · inf terms vanish instead of turning the
# whole sum into NaN; results beyond ±HUGE are infinite again.
BIG = 1e150
HUGE = 1e100


def node_bounds(graph: Graph, specs: Sequence[InputSpec]) -> dict[str, Interval]:
    """(lo, hi) of every node, float64 and shaped like it, over the domain the specs declare."""
    if len(specs) != len(graph.inputs):
        raise InputError(
            f"the graph takes {len(graph.inputs)} inputs, {len(specs)} specs given",
            hint="give one input spec per model input, in the order forward() takes",
        )
    found: dict[str, Interval] = {}
    for node in graph.nodes():
        if node.op is Op.INPUT:
            interval = _input_bounds(node, specs[graph.inputs.index(node.name)])
        elif node.op is Op.CONST:
            value = node.value.double()
            interval = (value, value)
        else:
            rule = BOUND_RULES.get(node.op, _unbounded)
            interval = rule(node, [found[i] for i in node.inputs])
            if node.op in RELATIONS:
                interval = RELATIONS[node.op](graph, node, _tidy(node, interval), found)
        found[node.name] = _tidy(node, interval)
    return found


def _input_bounds(node: Node, spec: InputSpec) -> Interval:
    """Per-element min/max of the calibration samples, or of each element's range or value set."""
    lo, hi = spec.bounds()
    if lo.size != node.numel:
        raise InputError(
            f"input {spec.name!r} has {lo.size} elements in its spec, the graph's "
            f"input %{node.name} has {node.numel}",
            hint="the spec's shape must match what forward() takes",
        )
    return (torch.from_numpy(lo).reshape(node.shape), torch.from_numpy(hi).reshape(node.shape))


def _tidy(node: Node, interval: Interval) -> Interval:
    """float64, the node's shape, NaN endpoints widened to ±inf, integer values rounded inward."""
    lo, hi = (torch.as_tensor(t, dtype=torch.float64) for t in interval)
    lo = torch.where(torch.isnan(lo), -INF, lo).expand(node.shape).clone()
    hi = torch.where(torch.isnan(hi), INF, hi).expand(node.shape).clone()
    if is_integer_dtype(node.dtype):
        lo, hi = torch.ceil(lo), torch.floor(hi)
    if node.dtype == "bool":
        lo, hi = lo.clamp(0, 1), hi.clamp(0, 1)
    return lo, hi


# --- rules --------------------------------------------------------------------------------------


def _unbounded(node: Node, args: list[Interval]) -> Interval:
    return torch.full(node.shape, -INF), torch.full(node.shape, INF)


def _increasing(fn: Callable[[torch.Tensor], torch.Tensor]) -> BoundRule:
    return lambda node, args: (fn(args[0][0]), fn(args[0][1]))


def _decreasing(fn: Callable[[torch.Tensor], torch.Tensor]) -> BoundRule:
    return lambda node, args: (fn(args[0][1]), fn(args[0][0]))


def _truth(interval: Interval) -> Interval:
    """Bounds of bool(x): 1 when 0 is outside [lo, hi], 0 when x is exactly 0, else [0, 1]."""
    lo, hi = interval
    sure = ((lo > 0) | (hi < 0)).double()
    possible = ~((lo == 0) & (hi == 0))
    return sure, possible.double()


def _abs(node: Node, args: list[Interval]) -> Interval:
    lo, hi = args[0]
    low = torch.where(lo >= 0, lo, torch.where(hi <= 0, -hi, torch.zeros_like(lo)))
    return low, torch.maximum(lo.abs(), hi.abs())


def _sin(lo: torch.Tensor, hi: torch.Tensor) -> Interval:
    """Endpoints, widened to ±1 where a peak (π/2 + 2kπ) or trough (-π/2 + 2kπ) lies inside."""
    ends = torch.stack([torch.sin(lo), torch.sin(hi)])
    period = 2 * math.pi
    peak = torch.ceil((lo - math.pi / 2) / period) <= torch.floor((hi - math.pi / 2) / period)
    trough = torch.ceil((lo + math.pi / 2) / period) <= torch.floor((hi + math.pi / 2) / period)
    wide = ~torch.isfinite(hi - lo) | (hi - lo >= period)
    low = torch.where(trough | wide, -1.0, ends.amin(0))
    high = torch.where(peak | wide, 1.0, ends.amax(0))
    return low, high


def _cast(node: Node, args: list[Interval]) -> Interval:
    if node.dtype == "bool":
        return _truth(args[0])
    lo, hi = args[0]
    return (torch.trunc(lo), torch.trunc(hi)) if is_integer_dtype(node.dtype) else (lo, hi)


def _corners(a: Interval, b: Interval, fn: Callable[..., torch.Tensor]) -> Interval:
    """Hull of fn at the four corners; NaN corners (0 · inf) count as 0."""
    values = torch.stack(torch.broadcast_tensors(*(fn(x, y) for x in a for y in b)))
    values = torch.nan_to_num(values, nan=0.0, posinf=INF, neginf=-INF)
    return values.amin(0), values.amax(0)


def _mul(node: Node, args: list[Interval]) -> Interval:
    if node.inputs[0] == node.inputs[1]:  # x · x is a square: never negative
        low, high = _abs(node, args[:1])
        return low * low, high * high
    return _corners(args[0], args[1], torch.mul)


def _div(node: Node, args: list[Interval]) -> Interval:
    a, (lo, hi) = args
    lo, hi = torch.broadcast_tensors(lo, hi)
    spans_zero = (lo <= 0) & (hi >= 0)
    low, high = _corners(a, (1 / hi, 1 / lo), torch.mul)
    return torch.where(spans_zero, -INF, low), torch.where(spans_zero, INF, high)


def _pow(node: Node, args: list[Interval]) -> Interval:
    """Corners where the base is >= 0 (x^y is monotone in each argument there); for a constant
    integer exponent p, the endpoints (x^p is monotone on each side of 0) and 0 when inside.
    Unbounded where a negative exponent meets a base interval holding 0 (as for division), or a
    negative base a non-integer exponent."""
    (lo, hi), (elo, ehi) = args
    lo, hi, elo, ehi = torch.broadcast_tensors(lo, hi, elo, ehi)
    low, high = _corners((lo, hi), (elo, ehi), torch.pow)
    ends = torch.stack([torch.pow(lo, elo), torch.pow(hi, elo)])
    spans_zero = (lo <= 0) & (hi >= 0)
    int_low = torch.where(spans_zero & (elo > 0), ends.amin(0).clamp(max=0), ends.amin(0))
    integer = (elo == ehi) & (elo == torch.round(elo))
    low = torch.where(lo >= 0, low, torch.where(integer, int_low, -INF))
    high = torch.where(lo >= 0, high, torch.where(integer, ends.amax(0), INF))
    pole = spans_zero & (elo < 0)
    return torch.where(pole, -INF, low), torch.where(pole, INF, high)


def _both(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> BoundRule:
    """fn non-decreasing in both arguments (max, min, and, or)."""
    return lambda node, args: (fn(args[0][0], args[1][0]), fn(args[0][1], args[1][1]))


def _boolean(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> BoundRule:
    return lambda node, args: _both(fn)(node, [_truth(a) for a in args])


def _greater(strict: bool, swap: bool) -> BoundRule:
    """a > b (or >=): surely true when a.lo beats b.hi, possibly true when a.hi beats b.lo."""

    def rule(node: Node, args: list[Interval]) -> Interval:
        (alo, ahi), (blo, bhi) = args[::-1] if swap else args
        beats = torch.gt if strict else torch.ge
        return beats(alo, bhi).double(), beats(ahi, blo).double()

    return rule


def _equal(negate: bool) -> BoundRule:
    def rule(node: Node, args: list[Interval]) -> Interval:
        (alo, ahi), (blo, bhi) = args
        same = ((alo == ahi) & (blo == bhi) & (alo == blo)).double()
        overlap = ((alo <= bhi) & (blo <= ahi)).double()
        return (1 - overlap, 1 - same) if negate else (same, overlap)

    return rule


def _where(node: Node, args: list[Interval]) -> Interval:
    (sure, possible), (alo, ahi), (blo, bhi) = _truth(args[0]), args[1], args[2]
    low = torch.where(sure == 1, alo, torch.where(possible == 0, blo, torch.minimum(alo, blo)))
    high = torch.where(sure == 1, ahi, torch.where(possible == 0, bhi, torch.maximum(ahi, bhi)))
    return low, high


def _reduce(fn: Callable[..., torch.Tensor]) -> BoundRule:
    """Sum, max and min are non-decreasing in every element: reduce each endpoint."""

    def rule(node: Node, args: list[Interval]) -> Interval:
        dims, keep = list(node.attrs["dims"]), node.attrs["keepdim"]
        return fn(args[0][0], dims, keepdim=keep), fn(args[0][1], dims, keepdim=keep)

    return rule


def _argmax(node: Node, args: list[Interval]) -> Interval:
    size = args[0][0].shape[node.attrs["dims"][0]]
    return torch.zeros(node.shape), torch.full(node.shape, float(size - 1))


def _matmul(node: Node, args: list[Interval]) -> Interval:
    """Interval matrix product in center/radius form: |A_c| B_r + A_r |B_c| + A_r B_r."""
    (alo, ahi), (blo, bhi) = ((lo.clamp(-BIG, BIG), hi.clamp(-BIG, BIG)) for lo, hi in args)
    a_mid, a_rad = (ahi + alo) / 2, (ahi - alo) / 2
    b_mid, b_rad = (bhi + blo) / 2, (bhi - blo) / 2
    mid = torch.matmul(a_mid, b_mid)
    rad = (
        torch.matmul(a_mid.abs(), b_rad)
        + torch.matmul(a_rad, b_mid.abs())
        + torch.matmul(a_rad, b_rad)
    )
    low, high = mid - rad, mid + rad
    return torch.where(low <= -HUGE, -INF, low), torch.where(high >= HUGE, INF, high)


def _movement(node: Node, args: list[Interval]) -> Interval:
    """Data movement commutes with bounds: move the lower and the upper ends alike."""
    reference = OP_TABLE[node.op].reference
    return (
        reference([a[0] for a in args], node.attrs),
        reference([a[1] for a in args], node.attrs),
    )


def _take(node: Node, args: list[Interval]) -> Interval:
    """x[idx] along attrs["dim"]: exact for a constant index, else the hull of the rows in range."""
    (xlo, xhi), (ilo, ihi) = args
    dim = node.attrs["dim"]
    if torch.equal(ilo, ihi):
        return _movement(node, [(xlo, xhi), (ilo.long(), ihi.long())])
    size = xlo.shape[dim]
    first = ilo.clamp(0, size - 1).reshape(-1, 1)
    last = ihi.clamp(0, size - 1).reshape(-1, 1)
    rows = torch.arange(size, dtype=torch.float64)
    inside = ((rows >= first) & (rows <= last)).reshape(len(first), size, *[1] * (xlo.dim() - 1))
    low = torch.where(inside, xlo.movedim(dim, 0), INF).amin(1).movedim(0, dim)
    high = torch.where(inside, xhi.movedim(dim, 0), -INF).amax(1).movedim(0, dim)
    return low.reshape(node.shape), high.reshape(node.shape)


def _conv(node: Node, args: list[Interval]) -> Interval:
    """Convolution is bilinear with 0/1 coefficients: the matmul's center/radius form holds,
    |X_c| * W_r + X_r * |W_c| + X_r * W_r around X_c * W_c (and the bias interval added)."""
    conv = OP_TABLE[Op.CONV].reference
    (xlo, xhi), (wlo, whi) = ((lo.clamp(-BIG, BIG), hi.clamp(-BIG, BIG)) for lo, hi in args[:2])
    x_mid, x_rad, w_mid, w_rad = (xhi + xlo) / 2, (xhi - xlo) / 2, (whi + wlo) / 2, (whi - wlo) / 2
    mid = conv([x_mid, w_mid], node.attrs)
    rad = (
        conv([x_mid.abs(), w_rad], node.attrs)
        + conv([x_rad, w_mid.abs()], node.attrs)
        + conv([x_rad, w_rad], node.attrs)
    )
    low, high = mid - rad, mid + rad
    if len(args) == 3:
        channel = (-1,) + (1,) * (len(node.shape) - 2)
        low, high = low + args[2][0].reshape(channel), high + args[2][1].reshape(channel)
    return torch.where(low <= -HUGE, -INF, low), torch.where(high >= HUGE, INF, high)


def _div_rounded(node: Node, args: list[Interval]) -> Interval:
    """floor and trunc are non-decreasing: round the quotient's interval."""
    low, high = _div(node, args)
    rounding = torch.floor if node.attrs["rounding"] == "floor" else torch.trunc
    return rounding(low), rounding(high)


def _mod(node: Node, args: list[Interval]) -> Interval:
    """A remainder is smaller than the divisor in magnitude and, rounding "floor", has its sign
    (x itself when 0 <= x < divisor); rounding "trunc", x's sign and at most |x|."""
    (alo, ahi), (blo, bhi) = args
    alo, ahi, blo, bhi = torch.broadcast_tensors(alo, ahi, blo, bhi)
    size = torch.maximum(blo.abs(), bhi.abs())
    if node.attrs["rounding"] == "trunc":
        low = torch.where(alo >= 0, 0.0, -torch.minimum(size, alo.abs()))
        high = torch.where(ahi <= 0, 0.0, torch.minimum(size, ahi.abs()))
        return low, high
    positive, negative = blo > 0, bhi < 0
    inside = positive & (alo >= 0) & (ahi < blo)
    low = torch.where(inside, alo, torch.where(positive, 0.0, torch.where(negative, blo, -INF)))
    high = torch.where(inside, ahi, torch.where(positive, bhi, torch.where(negative, 0.0, INF)))
    return low, high


def _bitwise(node: Node, args: list[Interval]) -> Interval:
    """Bit operations on non-negative integers stay below the next power of two (and `and` below
    either operand); shifts by a known amount scale; anything else is unbounded."""
    alo, ahi, blo, bhi = torch.broadcast_tensors(*args[0], *args[1])
    fn = node.attrs["fn"]
    if fn in ("left_shift", "right_shift"):
        return _shift(fn, (alo, ahi), (blo, bhi))
    natural = (alo >= 0) & (blo >= 0)
    top = torch.exp2(torch.ceil(torch.log2(torch.maximum(ahi, bhi) + 1))) - 1
    low = {"and": 0.0, "or": torch.maximum(alo, blo), "xor": 0.0}[fn]
    high = torch.minimum(ahi, bhi) if fn == "and" else top
    return torch.where(natural, low, -INF), torch.where(natural, high, INF)


def _shift(fn: str, a: Interval, s: Interval) -> Interval:
    """x << s is x·2^s and x >> s is floor(x / 2^s) for shifts in [0, 62] without overflow."""
    slo, shi = s
    sensible = (slo >= 0) & (shi <= 62)
    if fn == "left_shift":
        low, high = _corners(a, (torch.exp2(slo), torch.exp2(shi)), torch.mul)
        sensible &= torch.maximum(low.abs(), high.abs()) < 2.0**62
    else:
        low, high = _corners(a, (torch.exp2(-slo), torch.exp2(-shi)), torch.mul)
        low, high = torch.floor(low), torch.floor(high)
    return torch.where(sensible, low, -INF), torch.where(sensible, high, INF)


def _table(node: Node, args: list[Interval]) -> Interval:
    table = node.attrs["table"].double()
    return table.min().expand(node.shape), table.max().expand(node.shape)


# --- relations: facts about a node and its own inputs that intervals alone forget ----------------


def below_own_max(
    graph: Graph, node: Node, interval: Interval, found: dict[str, Interval]
) -> Interval:
    """x - amax(x) <= 0 and x - amin(x) >= 0, as softmax shifts its input (keepdim: the reduced
    axes line up with x's)"""
    lo, hi = interval
    reduced = graph[node.inputs[1]]
    own = reduced.inputs == node.inputs[:1] and reduced.attrs.get("keepdim", False)
    if own and reduced.op is Op.AMAX:
        hi = hi.clamp(max=0)
    if own and reduced.op is Op.AMIN:
        lo = lo.clamp(min=0)
    return lo, hi


def share_of_own_sum(
    graph: Graph, node: Node, interval: Interval, found: dict[str, Interval]
) -> Interval:
    """x / sum(x) lies in [0, 1] when x >= 0 (and the sum is not 0), as softmax normalises"""
    total = graph[node.inputs[1]]
    x = node.inputs[0]
    own = total.op is Op.SUM and total.inputs == (x,) and total.attrs["keepdim"]
    if own and bool((found[x][0] >= 0).all()):
        return interval[0].clamp(0, 1), interval[1].clamp(0, 1)
    return interval


Relation = Callable[[Graph, Node, Interval, dict[str, Interval]], Interval]
RELATIONS: dict[Op, Relation] = {Op.SUB: below_own_max, Op.DIV: share_of_own_sum}


# --- the rule table --------------------------------------------------------------------------

BOUND_RULES: dict[Op, BoundRule] = {
    Op.NEG: _decreasing(torch.neg),
    Op.ABS: _abs,
    Op.EXP: _increasing(torch.exp),
    Op.LOG: _increasing(lambda t: torch.log(t.clamp(min=0))),
    Op.LOG1P: _increasing(lambda t: torch.log1p(t.clamp(min=-1))),
    Op.SIN: lambda node, args: _sin(*args[0]),
    Op.COS: lambda node, args: _sin(args[0][0] + math.pi / 2, args[0][1] + math.pi / 2),
    Op.SQRT: _increasing(lambda t: torch.sqrt(t.clamp(min=0))),
    Op.RSQRT: _decreasing(lambda t: torch.rsqrt(t.clamp(min=0))),
    Op.TANH: _increasing(torch.tanh),
    Op.SIGMOID: _increasing(torch.sigmoid),
    Op.RELU: _increasing(torch.relu),
    Op.ERF: _increasing(torch.erf),
    Op.NOT: lambda node, args: tuple(1 - t for t in reversed(_truth(args[0]))),
    Op.CAST: _cast,
    Op.ADD: lambda node, args: (args[0][0] + args[1][0], args[0][1] + args[1][1]),
    Op.SUB: lambda node, args: (args[0][0] - args[1][1], args[0][1] - args[1][0]),
    Op.MUL: _mul,
    Op.DIV: _div,
    Op.POW: _pow,
    Op.MAXIMUM: _both(torch.maximum),
    Op.MINIMUM: _both(torch.minimum),
    Op.EQ: _equal(negate=False),
    Op.NE: _equal(negate=True),
    Op.GT: _greater(strict=True, swap=False),
    Op.GE: _greater(strict=False, swap=False),
    Op.LT: _greater(strict=True, swap=True),
    Op.LE: _greater(strict=False, swap=True),
    Op.AND: _boolean(torch.minimum),
    Op.OR: _boolean(torch.maximum),
    Op.WHERE: _where,
    Op.DIV_ROUNDED: _div_rounded,
    Op.MOD: _mod,
    Op.BITWISE: _bitwise,
    Op.SUM: _reduce(torch.sum),
    Op.AMAX: _reduce(torch.amax),
    Op.AMIN: _reduce(torch.amin),
    Op.ARGMAX: _argmax,
    Op.MATMUL: _matmul,
    Op.CONV: _conv,
    Op.POOL: _movement,  # max and mean are non-decreasing in every element, as movement is
    Op.RESHAPE: _movement,
    Op.PERMUTE: _movement,
    Op.EXPAND: _movement,
    Op.SLICE: _movement,
    Op.CAT: _movement,
    Op.TAKE: _take,
    Op.TABLE: _table,
}
