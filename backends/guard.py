"""The domain guard: code the entry points run on their inputs before computing, because the
library is verified on the spec's domain only (and range-based rewrites — `mod` as a compare and a
subtract, int32 lanes — hold only there).

    check (default)  a sample outside the domain gets the sentinel (NaN for real outputs, -1 for
                     class, boolean and integer outputs) and is counted; nothing is computed on it
    clamp            each input is moved to the nearest point of the domain's box first (NaN, and
                     fractions for integer inputs, still get the sentinel)
    allow            no check: the caller guarantees the domain (the fastest; results outside are
                     whatever the code computes)

The domain is data (`abi.Segment`s, from the input specs); this module turns it into LLVM IR.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence

import sympy
from llvmlite import ir
from nnc.errors import InputError
from nnc.spec import InputSpec, Range

from .abi import ScalarArg, Segment
from .kernel import F64, I1, convert, counted, i64

__all__ = [
    "UNROLLED",
    "args_inside",
    "check_outside",
    "clamped_args",
    "divides_by_a_variable",
    "domain_segments",
    "fill",
    "row_inside",
    "sentinel",
    "staged_row",
    "substituted",
]

UNROLLED = 8  # segments up to this many positions are checked without a loop
Body = Callable[[ir.Value, ir.Value], None]  # (position j, x[j]) → code for that element


def check_outside(specs: Sequence[InputSpec], outside: str) -> None:
    """Refuse clamp where an input takes only listed values: they have no range to clamp into."""
    if outside == "clamp" and any(spec.value_sets() for spec in specs):
        raise InputError(
            "outside='clamp' moves inputs into their ranges; an input here takes only listed "
            "values, which have no range to clamp into",
            hint="use outside='check' (the default) or outside='allow'",
        )


def divides_by_a_variable(expr: sympy.Basic) -> bool:
    """Whether integer code for the closed form divides by a value that is not a constant (sdiv
    and srem trap on 0): then rows outside the domain must not be computed at all."""
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, sympy.Mod) and not node.args[1].is_Number:
            return True
        if isinstance(node, sympy.floor) and not sympy.fraction(node.args[0])[1].is_Number:
            return True
    return False


def domain_segments(specs: Sequence[InputSpec]) -> tuple[Segment, ...]:
    """The flat input positions and the values each accepts, one segment per shared domain."""
    out, start = [], 0
    for spec in specs:
        if spec.calibration is not None:  # the box of the samples
            lo, hi = spec.bounds()
            out.append(Segment(start, start + spec.numel, lows=tuple(lo), highs=tuple(hi)))
        elif spec.domain is not None:
            out.append(_segment(start, start + spec.numel, spec.domain, spec.integer))
        else:
            out += [
                _segment(start + k, start + k + 1, e.domain, spec.integer)
                for k, e in enumerate(spec.listed)
            ]
        start += spec.numel
    return tuple(out)


def _segment(start: int, stop: int, domain: object, integer: bool) -> Segment:
    if isinstance(domain, Range):
        return Segment(start, stop, domain.lo, domain.hi, whole=integer)
    values = tuple(domain.values)  # type: ignore[attr-defined]
    return Segment(start, stop, min(values), max(values), values=values)


def sentinel(lane: ir.Type) -> ir.Constant:
    """What a sample outside the domain gets: NaN in a real lane, -1 in an integer one."""
    return ir.Constant(lane, -1 if isinstance(lane, ir.IntType) else math.nan)


# --- a flat row (NAME_eval, NAME_eval_batch and their typed forms), compared as doubles ----------


def row_inside(
    b: ir.IRBuilder, row: ir.Value, domain: Sequence[Segment], element: ir.Type = F64
) -> ir.Value:
    """i1: every element of the row (input_numel `element`s at `row`) lies in the domain."""
    fn = b.function
    ok = _flag(b)
    for segment in domain:
        _each_position(
            b,
            fn,
            segment,
            lambda j, v, s=segment: _and_into(b, ok, _double_inside(b, v, s, j)),
            row,
            element,
        )
    return b.load(ok)


def staged_row(
    b: ir.IRBuilder,
    row: ir.Value,
    staged: ir.Value,
    domain: Sequence[Segment],
    element: ir.Type = F64,
) -> ir.Value:
    """Copy the row into `staged` (of the same element type), each element clamped into its
    segment's box; i1: no element was NaN or (for integer inputs) a fraction."""
    fn = b.function
    ok = _flag(b)

    def clamp(j: ir.Value, v: ir.Value, segment: Segment) -> None:
        _and_into(b, ok, _double_whole(b, v, segment))
        lo, hi = _double_box(b, segment, j)
        moved = b.select(
            b.fcmp_ordered("<", v, lo), lo, b.select(b.fcmp_ordered(">", v, hi), hi, v)
        )
        b.store(convert(b, moved, element), b.gep(staged, [j], source_etype=element))

    for segment in domain:
        _each_position(b, fn, segment, lambda j, v, s=segment: clamp(j, v, s), row, element)
    return b.load(ok)


def fill(b: ir.IRBuilder, target: ir.Value, count: int, value: ir.Constant) -> None:
    """target[0..count) = value."""
    with counted(b.function, b, i64(count)) as j:
        b.store(value, b.gep(target, [j], source_etype=value.type))


def _each_position(
    b: ir.IRBuilder,
    fn: ir.Function,
    segment: Segment,
    body: Body,
    row: ir.Value,
    element: ir.Type,
) -> None:
    """body(j, row[j] as a double) for every position of the segment: unrolled when short, else
    a loop."""

    def at(j: ir.Value) -> ir.Value:
        return convert(b, b.load(b.gep(row, [j], source_etype=element), typ=element), F64)

    if segment.stop - segment.start <= UNROLLED:
        for j in range(segment.start, segment.stop):
            body(i64(j), at(i64(j)))
        return
    with counted(fn, b, i64(segment.stop - segment.start)) as k:
        body(b.add(k, i64(segment.start)), at(b.add(k, i64(segment.start))))


def _flag(b: ir.IRBuilder) -> ir.Value:
    """An i1 slot set to true here; allocated in the entry block, since a check may sit in a loop."""
    with b.goto_entry_block():
        slot = b.alloca(I1)
    b.store(ir.Constant(I1, 1), slot)
    return slot


def _and_into(b: ir.IRBuilder, ok: ir.Value, condition: ir.Value) -> None:
    b.store(b.and_(b.load(ok), condition), ok)


def _double_box(b: ir.IRBuilder, segment: Segment, j: ir.Value) -> tuple[ir.Value, ir.Value]:
    """The segment's lo and hi for position j, as doubles (read from tables for calibration)."""
    if segment.lows is None:
        return ir.Constant(F64, segment.lo), ir.Constant(F64, segment.hi)
    index = b.sub(j, i64(segment.start))
    ends = []
    for name, values in (("lo", segment.lows), ("hi", segment.highs)):
        table = _table(b.module, f"nnc_domain_{name}_{segment.start}", values)
        ends.append(b.load(b.gep(table, [index], source_etype=F64), typ=F64))
    return ends[0], ends[1]


def _table(module: ir.Module, name: str, values: Sequence[float]) -> ir.GlobalVariable:
    table = module.globals.get(name)
    if table is None:
        kind = ir.ArrayType(F64, len(values))
        table = ir.GlobalVariable(module, kind, name=name)
        table.linkage, table.global_constant = "internal", True
        table.initializer = ir.Constant(kind, list(values))
    return table


def _double_whole(b: ir.IRBuilder, v: ir.Value, segment: Segment) -> ir.Value:
    """i1: v is a number, and a whole one where the segment holds integers."""
    if not segment.whole:
        return b.fcmp_ordered("==", v, v)
    floor = b.module.globals.get("llvm.floor.f64") or ir.Function(
        b.module, ir.FunctionType(F64, [F64]), "llvm.floor.f64"
    )
    return b.fcmp_ordered("==", v, b.call(floor, [v]))


def _double_inside(b: ir.IRBuilder, v: ir.Value, segment: Segment, j: ir.Value) -> ir.Value:
    if segment.values is not None:
        hits = [b.fcmp_ordered("==", v, ir.Constant(F64, value)) for value in segment.values]
        return _any(b, hits)
    lo, hi = _double_box(b, segment, j)
    within = b.and_(b.fcmp_ordered(">=", v, lo), b.fcmp_ordered("<=", v, hi))
    return b.and_(within, _double_whole(b, v, segment)) if segment.whole else within


def _any(b: ir.IRBuilder, conditions: Sequence[ir.Value]) -> ir.Value:
    out = conditions[0]
    for condition in conditions[1:]:
        out = b.or_(out, condition)
    return out


# --- scalar arguments in native lanes (NAME, NAME_batch_<t>) ---------------------------------------


def args_inside(
    b: ir.IRBuilder,
    values: Sequence[ir.Value],
    args: Sequence[ScalarArg],
    domain: Sequence[Segment],
) -> ir.Value:
    """i1: every argument lies in the domain, compared in its own lane."""
    checks = [
        _native_inside(b, v, _segment_at(domain, a.position), a.position)
        for v, a in zip(values, args)
    ]
    return _all(b, checks)


def clamped_args(
    b: ir.IRBuilder,
    values: Sequence[ir.Value],
    args: Sequence[ScalarArg],
    domain: Sequence[Segment],
) -> tuple[list[ir.Value], ir.Value]:
    """The arguments moved into the domain's box, and i1: none was NaN."""
    out, numbers = [], []
    for v, a in zip(values, args):
        segment = _segment_at(domain, a.position)
        lo, hi = (_native_constant(v.type, e) for e in _ends(segment, a.position))
        if isinstance(v.type, ir.IntType):
            below, above = b.icmp_signed("<", v, lo), b.icmp_signed(">", v, hi)
        else:
            below, above = b.fcmp_ordered("<", v, lo), b.fcmp_ordered(">", v, hi)
            numbers.append(b.fcmp_ordered("==", v, v))
        out.append(b.select(below, lo, b.select(above, hi, v)))
    return out, _all(b, numbers)


def substituted(
    b: ir.IRBuilder,
    values: Sequence[ir.Value],
    args: Sequence[ScalarArg],
    domain: Sequence[Segment],
    ok: ir.Value,
) -> list[ir.Value]:
    """Each argument where `ok`, else a point of the domain (its segment's first value)."""
    out = []
    for v, a in zip(values, args):
        segment = _segment_at(domain, a.position)
        point = segment.values[0] if segment.values is not None else _ends(segment, a.position)[0]
        out.append(b.select(ok, v, _native_constant(v.type, point)))
    return out


def _native_inside(b: ir.IRBuilder, v: ir.Value, segment: Segment, position: int) -> ir.Value:
    integer = isinstance(v.type, ir.IntType)
    if segment.values is not None:
        compare = (
            (lambda c: b.icmp_signed("==", v, c))
            if integer
            else (lambda c: b.fcmp_ordered("==", v, c))
        )
        return _any(b, [compare(_native_constant(v.type, value)) for value in segment.values])
    lo, hi = (_native_constant(v.type, e) for e in _ends(segment, position))
    if integer:
        return b.and_(b.icmp_signed(">=", v, lo), b.icmp_signed("<=", v, hi))
    return b.and_(b.fcmp_ordered(">=", v, lo), b.fcmp_ordered("<=", v, hi))


def _ends(segment: Segment, position: int) -> tuple[float, float]:
    if segment.lows is None:
        return segment.lo, segment.hi
    k = position - segment.start
    return segment.lows[k], segment.highs[k]  # type: ignore[index]


def _native_constant(lane: ir.Type, value: float) -> ir.Constant:
    """A bound in an argument's lane: integers rounded inward are exact for whole bounds."""
    if isinstance(lane, ir.IntType):
        limit = 2 ** (lane.width - 1)
        return ir.Constant(lane, int(min(max(value, -limit), limit - 1)))
    return ir.Constant(lane, value)


def _segment_at(domain: Sequence[Segment], position: int) -> Segment:
    index = bisect.bisect_right([s.start for s in domain], position) - 1
    return domain[index]


def _all(b: ir.IRBuilder, conditions: Sequence[ir.Value]) -> ir.Value:
    out = ir.Constant(I1, 1)
    for condition in conditions:
        out = b.and_(out, condition)
    return out
