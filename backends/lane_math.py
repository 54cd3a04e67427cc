"""exp, tanh and sigmoid of float32 values (scalars or vectors) as inline instructions: no call,
so they fuse into a kernel's loop or a GEMM's epilogue without spilling its registers, and
every vector unit (SSE2 included) runs them with no library beyond libc.

exp: x = n·ln2 + r with n rounded to nearest (the 1.5·2²³ trick: no rounding instruction needed
on SSE2), ln2 split in two for an exact reduction, e^r by a degree-6 polynomial on [-ln2/2,
ln2/2] (relative error 1.8e-8, a third of float32's ulp), then two exact scalings by powers of two
so that results from 2^-149 (subnormal) to overflow round once. tanh: |x| < 0.55 by
x + x·s·q(s), s = x², degree-4 q (relative error 4.5e-9); above, 1 - 2/(e^{2|x|} + 1), which no
longer cancels; the sign copied back. sigmoid: 1/(1 + e^-x). The polynomial coefficients are
least-squares fits in the Chebyshev basis (numpy.polynomial.chebyshev.chebfit) weighted for
relative error, rounded to float32. NaN stays NaN; ±inf gives the limits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from llvmlite import ir

__all__ = ["LANE_FUNCTIONS", "exp_f32", "sigmoid_f32", "tanh_f32"]

_EXP = (1.0, 1.0, 0.49999991059303284, 0.1666642129421234, 0.0416683591902256)
_EXP += (0.008374772034585476, 0.0013829420786350965)
_TANH_SMALL = (-0.33333319425582886, 0.13332699239253998, -0.05386507883667946)
_TANH_SMALL += (0.021127240732312202, -0.006356495898216963)
_LN2_HI, _LN2_LO = 0.693145751953125, 1.4286068203094172e-06  # hi has 12 significant bits
_ROUND = 12582912.0  # 1.5 · 2^23: x + it - it rounds x to an integer (|x| < 2^22)
_EXP_LOW, _EXP_HIGH = -104.0, 89.0  # below: 0 after rounding; above: inf
_TANH_SPLIT = 0.55


def _constant(like: ir.Type, value: float) -> ir.Constant:
    if isinstance(like, ir.VectorType):
        return ir.Constant(like, [value] * like.count)
    return ir.Constant(like, value)


def _intrinsic(b: ir.IRBuilder, name: str, args: Sequence[ir.Value]) -> ir.Value:
    """Call llvm.<name> overloaded on the arguments' type."""
    kind = args[0].type
    suffix = f"v{kind.count}f32" if isinstance(kind, ir.VectorType) else "f32"
    module = b.module
    full = f"llvm.{name}.{suffix}"
    fn = module.globals.get(full) or ir.Function(
        module, ir.FunctionType(kind, [kind] * len(args)), full
    )
    return b.call(fn, list(args))


def _horner(b: ir.IRBuilder, x: ir.Value, coefficients: Sequence[float]) -> ir.Value:
    """c0 + x·(c1 + x·(c2 + ...)) with fused multiply-adds where the target has them."""
    total = _constant(x.type, coefficients[-1])
    for c in reversed(coefficients[:-1]):
        total = _intrinsic(b, "fmuladd", [total, x, _constant(x.type, c)])
    return total


def _clamp(b: ir.IRBuilder, x: ir.Value, low: float, high: float) -> ir.Value:
    """min(max(x, low), high) that keeps NaN (compares with NaN are false)."""
    low_c, high_c = _constant(x.type, low), _constant(x.type, high)
    x = b.select(b.fcmp_ordered("<", x, low_c), low_c, x)
    return b.select(b.fcmp_ordered(">", x, high_c), high_c, x)


def _power_of_two(b: ir.IRBuilder, exponent: ir.Value) -> ir.Value:
    """2^e for integer lanes e in [-126, 127], built in the exponent field."""
    biased = b.add(exponent, _int_constant(exponent.type, 127))
    bits = b.shl(biased, _int_constant(exponent.type, 23))
    return b.bitcast(bits, _float_type(exponent.type))


def _int_constant(like: ir.Type, value: int) -> ir.Constant:
    return _constant(like, value)


def _float_type(like: ir.Type) -> ir.Type:
    if isinstance(like, ir.VectorType):
        return ir.VectorType(ir.FloatType(), like.count)
    return ir.FloatType()


def _int_type(like: ir.Type) -> ir.Type:
    if isinstance(like, ir.VectorType):
        return ir.VectorType(ir.IntType(32), like.count)
    return ir.IntType(32)


def exp_f32(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """e^x in float32, within about one ulp (subnormal results included)."""
    x = _clamp(b, x, _EXP_LOW, _EXP_HIGH)
    scaled = b.fmul(x, _constant(x.type, 1 / math.log(2)))
    n = b.fsub(b.fadd(scaled, _constant(x.type, _ROUND)), _constant(x.type, _ROUND))
    r = _intrinsic(b, "fmuladd", [n, _constant(x.type, -_LN2_HI), x])
    r = _intrinsic(b, "fmuladd", [n, _constant(x.type, -_LN2_LO), r])
    mantissa = _horner(b, r, _EXP)
    whole = b.fptosi(n, _int_type(x.type))  # in [-150, 128]: split so each half scales exactly
    half = b.ashr(whole, _int_constant(whole.type, 1))
    rest = b.sub(whole, half)
    scaled_once = b.fmul(mantissa, _power_of_two(b, half))
    return b.fmul(scaled_once, _power_of_two(b, rest))


def tanh_f32(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """tanh x in float32, within a few ulp, relative accuracy kept near 0."""
    a = _intrinsic(b, "fabs", [x])
    s = b.fmul(a, a)
    small = _intrinsic(b, "fmuladd", [b.fmul(a, s), _horner(b, s, _TANH_SMALL), a])
    one = _constant(x.type, 1.0)
    e = exp_f32(b, b.fadd(a, a))
    large = b.fsub(one, b.fdiv(_constant(x.type, 2.0), b.fadd(e, one)))
    magnitude = b.select(b.fcmp_ordered("<", a, _constant(x.type, _TANH_SPLIT)), small, large)
    return _intrinsic(b, "copysign", [magnitude, x])


def sigmoid_f32(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """1 / (1 + e^-x) in float32, as e^x / (1 + e^x) for x < 0 (no overflow, subnormals kept)."""
    one = _constant(x.type, 1.0)
    e = exp_f32(b, b.fneg(_intrinsic(b, "fabs", [x])))
    positive = b.fdiv(one, b.fadd(one, e))
    return b.select(b.fcmp_ordered("<", x, _constant(x.type, 0.0)), b.fmul(e, positive), positive)


# op name → emitter, for the elementwise emitters and GEMM epilogues that compute in float32
LANE_FUNCTIONS = {"exp": exp_f32, "tanh": tanh_f32, "sigmoid": sigmoid_f32}
