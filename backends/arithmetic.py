"""Element emitters for integer-style arithmetic: rounded division and remainders (in both lanes)
and bit operations, with torch's semantics and no undefined behaviour for any input.

torch raises on an integer division by zero; a compiled library cannot, so it returns 0 there
(INT64_MIN / -1 wraps, as torch does). Shifts by a negative amount or by 64 or more give what
torch gives: 0 for a left shift, the sign for a right shift.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from llvmlite import ir
from nnc.graph import Node
from nnc.ops import Op

from .kernel import F32, Kernel, call_math, i64

__all__ = ["ARITHMETIC"]

Values = Sequence[ir.Value]


def _float(value: ir.Value, constant: float) -> ir.Constant:
    """`constant` in the float lane of `value` (float or double)."""
    return ir.Constant(value.type, constant)


def _intrinsic(name: str, value: ir.Value) -> str:
    """llvm.<name> for the float width of `value`."""
    return f"llvm.{name}.{'f32' if value.type == F32 else 'f64'}"


def _float_remainder(k: Kernel, a: ir.Value, b: ir.Value) -> tuple[ir.Value, ir.Value]:
    """(fmod(a, b), whether Python's remainder differs from it: nonzero with the other sign)."""
    r, zero = k.b.frem(a, b), _float(a, 0.0)
    differs = k.b.and_(
        k.b.fcmp_unordered("!=", r, zero),
        k.b.xor(k.b.fcmp_ordered("<", r, zero), k.b.fcmp_ordered("<", b, zero)),
    )
    return r, differs


def _float_mod(k: Kernel, node: Node, v: Values) -> ir.Value:
    r, differs = _float_remainder(k, v[0], v[1])
    if node.attrs["rounding"] == "trunc":
        return r
    return k.b.select(differs, k.b.fadd(r, v[1]), r)


def _float_div(k: Kernel, node: Node, v: Values) -> ir.Value:
    """trunc(a / b), or c10's div_floor_floating: (a - fmod(a, b)) / b corrected to the floor."""
    a, b = v
    quotient = k.b.fdiv(a, b)
    if node.attrs["rounding"] == "trunc":
        return call_math(k.b, k.module, _intrinsic("trunc", a), [quotient])
    r, differs = _float_remainder(k, a, b)
    one, zero = _float(a, 1.0), _float(a, 0.0)
    div = k.b.fdiv(k.b.fsub(a, r), b)
    div = k.b.select(differs, k.b.fsub(div, one), div)
    floor = call_math(k.b, k.module, _intrinsic("floor", a), [div])
    round_up = k.b.fcmp_ordered(">", k.b.fsub(div, floor), _float(a, 0.5))
    floor = k.b.select(round_up, k.b.fadd(floor, one), floor)
    signed_zero = call_math(k.b, k.module, _intrinsic("copysign", a), [zero, quotient])
    result = k.b.select(k.b.fcmp_unordered("!=", div, zero), floor, signed_zero)
    return k.b.select(k.b.fcmp_ordered("==", b, zero), quotient, result)


def _safe_divisor(k: Kernel, b: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
    """(divisor for sdiv/srem: 1 where b is 0 or -1, b == 0, b == -1): never a trap."""
    zero, minus_one = k.b.icmp_signed("==", b, i64(0)), k.b.icmp_signed("==", b, i64(-1))
    return k.b.select(k.b.or_(zero, minus_one), i64(1), b), zero, minus_one


def _int_remainder(k: Kernel, a: ir.Value, b: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
    """(C's a % b, whether Python's differs from it, b == 0); a % 0 and a % -1 are 0."""
    safe, zero, _ = _safe_divisor(k, b)
    r = k.b.srem(a, safe)
    differs = k.b.and_(
        k.b.icmp_signed("!=", r, i64(0)),
        k.b.xor(k.b.icmp_signed("<", r, i64(0)), k.b.icmp_signed("<", b, i64(0))),
    )
    return r, differs, zero


def _int_mod(k: Kernel, node: Node, v: Values) -> ir.Value:
    r, differs, _ = _int_remainder(k, v[0], v[1])
    if node.attrs["rounding"] == "trunc":
        return r
    return k.b.select(differs, k.b.add(r, v[1]), r)


def _int_div(k: Kernel, node: Node, v: Values) -> ir.Value:
    a, b = v
    safe, zero, minus_one = _safe_divisor(k, b)
    q = k.b.select(minus_one, k.b.sub(i64(0), a), k.b.sdiv(a, safe))
    if node.attrs["rounding"] == "floor":
        _, differs, _ = _int_remainder(k, a, b)
        q = k.b.select(differs, k.b.sub(q, i64(1)), q)
    return k.b.select(zero, i64(0), q)


def _shift(k: Kernel, node: Node, v: Values) -> ir.Value:
    a, amount = v
    inside = k.b.and_(k.b.icmp_signed(">=", amount, i64(0)), k.b.icmp_signed("<", amount, i64(64)))
    if node.attrs["fn"] == "left_shift":
        shifted = k.b.shl(a, k.b.select(inside, amount, i64(0)))
        return k.b.select(inside, shifted, i64(0))
    return k.b.ashr(a, k.b.select(inside, amount, i64(63)))


_BITS: dict[str, Callable[[ir.IRBuilder, ir.Value, ir.Value], ir.Value]] = {
    "and": ir.IRBuilder.and_,
    "or": ir.IRBuilder.or_,
    "xor": ir.IRBuilder.xor,
}


def _bitwise(k: Kernel, node: Node, v: Values) -> ir.Value:
    fn = node.attrs["fn"]
    if fn in _BITS:
        return _BITS[fn](k.b, v[0], v[1])
    return _shift(k, node, v)


# (op, computes in a float lane) → one element from the operands already in that lane
ARITHMETIC: dict[tuple[Op, bool], Callable[[Kernel, Node, Values], ir.Value]] = {
    (Op.MOD, True): _float_mod,
    (Op.MOD, False): _int_mod,
    (Op.DIV_ROUNDED, True): _float_div,
    (Op.DIV_ROUNDED, False): _int_div,
    (Op.BITWISE, False): _bitwise,
}
