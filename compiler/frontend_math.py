"""Lowering rules for arithmetic: elementwise math, comparisons and logic, integer arithmetic
(`%`, `//`, fmod, bit operations, shifts) and reductions. One row per ATen op in MATH_RULES."""

from __future__ import annotations

import math
from typing import Any

import torch

from .frontend_builder import Builder, Rule, reduced_dims
from .ops import Op, is_integer_dtype

__all__ = ["MATH_RULES"]

aten = torch.ops.aten
B = Builder


def _binary(op: Op, **attrs: Any) -> Rule:
    return lambda b, x, y: b.add(op, [x, y], **attrs)


def _unary(op: Op) -> Rule:
    return lambda b, x: b.add(op, [x])


def _with_alpha(op: Op) -> Rule:
    """x op alpha·y (aten.add / aten.sub)."""
    return lambda b, x, y, alpha=1: b.add(op, [x, y if alpha == 1 else b.add(Op.MUL, [y, alpha])])


def _div(b: B, x: Any, y: Any, rounding_mode: str | None = None) -> str:
    if rounding_mode is None:
        return b.add(Op.DIV, [x, y])
    return b.add(Op.DIV_ROUNDED, [x, y], rounding=rounding_mode)


def _clamp(b: B, x: Any, lo: Any = None, hi: Any = None) -> str:
    if lo is not None:
        x = b.add(Op.MAXIMUM, [x, lo])
    if hi is not None:
        x = b.add(Op.MINIMUM, [x, hi])
    return x


def _is_bool(b: B, *values: Any) -> bool:
    return all(b.dtype(v) == "bool" for v in values)


def _bitwise(fn: str, logical: Op) -> Rule:
    """Bit operations on integers; on booleans torch means the logical operation."""

    def rule(b: B, x: Any, y: Any) -> str:
        if _is_bool(b, x, y):
            return b.add(logical, [x, y])
        return b.add(Op.BITWISE, [x, y], fn=fn)

    return rule


def _bitwise_not(b: B, x: Any) -> str:
    """~x: logical not on booleans, -1 - x on two's-complement integers."""
    return b.add(Op.NOT, [x]) if _is_bool(b, x) else b.add(Op.SUB, [-1, x])


def _rounded(rounding: str) -> Rule:
    """floor(x) / trunc(x): x divided by one with that rounding (integers pass through)."""

    def rule(b: B, x: Any) -> str:
        if is_integer_dtype(b.dtype(x)):
            return b.node(x)
        return b.add(Op.DIV_ROUNDED, [x, 1.0], rounding=rounding)

    return rule


def _ceil(b: B, x: Any) -> str:
    return b.add(Op.NEG, [_rounded("floor")(b, b.add(Op.NEG, [x]))])


def _sign(b: B, x: Any) -> str:
    """(x > 0) - (x < 0), counted as integers."""
    above, below = (b.add(Op.CAST, [b.add(op, [x, 0])], dtype="int64") for op in (Op.GT, Op.LT))
    return b.add(Op.SUB, [above, below])


def _where(b: B, cond: Any, x: Any, y: Any) -> str:
    return b.add(Op.WHERE, [cond, x, y])


def _masked_fill(b: B, x: Any, mask: Any, value: Any) -> str:
    return b.add(Op.WHERE, [mask, value, x])


# --- reductions ------------------------------------------------------------------------------


def _reduction(op: Op) -> Rule:
    def rule(b: B, x: Any, dims: Any = None, keepdim: bool = False, **_: Any) -> str:
        return b.add(op, [x], dims=reduced_dims(b.shape(x), dims), keepdim=keepdim)

    return rule


def _mean(b: B, x: Any, dims: Any = None, keepdim: bool = False, **_: Any) -> str:
    shape = b.shape(x)
    reduced = reduced_dims(shape, dims)
    total = b.add(Op.SUM, [x], dims=reduced, keepdim=keepdim)
    return b.add(Op.DIV, [total, float(math.prod(shape[d] for d in reduced))])


def _variance(
    b: B, x: Any, dims: Any = None, *, correction: float | None = None, keepdim: bool = False
) -> str:
    """Σ (x - mean)² / (N - correction), two-pass as torch (correction 1 by default)."""
    shape = b.shape(x)
    reduced = reduced_dims(shape, dims)
    count = math.prod(shape[d] for d in reduced)
    mean = b.add(Op.DIV, [b.add(Op.SUM, [x], dims=reduced, keepdim=True), float(count)])
    centered = b.add(Op.SUB, [x, mean])
    squares = b.add(Op.SUM, [b.add(Op.MUL, [centered, centered])], dims=reduced, keepdim=keepdim)
    return b.add(Op.DIV, [squares, float(count - (1 if correction is None else correction))])


def _vector_norm(
    b: B, x: Any, order: float = 2, dims: Any = None, keepdim: bool = False, **_: Any
) -> str:
    """‖x‖_p over dims: max or min of |x| for ±inf, the count of nonzeros for 0, else
    (Σ |x|^p)^(1/p) (a square root for p = 2)."""
    reduced = reduced_dims(b.shape(x), dims)
    size = b.add(Op.ABS, [x])
    if math.isinf(order):
        return b.add(Op.AMAX if order > 0 else Op.AMIN, [size], dims=reduced, keepdim=keepdim)
    if order == 0:
        nonzero = b.add(Op.CAST, [b.add(Op.NE, [x, 0.0])], dtype=b.dtype(x))
        return b.add(Op.SUM, [nonzero], dims=reduced, keepdim=keepdim)
    powered = b.add(Op.MUL, [size, size]) if order == 2 else b.add(Op.POW, [size, float(order)])
    total = b.add(Op.SUM, [powered], dims=reduced, keepdim=keepdim)
    if order == 2:
        return b.add(Op.SQRT, [total])
    return total if order == 1 else b.add(Op.POW, [total, 1.0 / order])


def _extreme_dim(value: Op) -> Rule:
    """max.dim / min.dim: (values, indices); the indices of a minimum are the argmax of -x."""

    def rule(b: B, x: Any, dim: int, keepdim: bool = False) -> tuple[str, str]:
        dims = reduced_dims(b.shape(x), dim)
        scores = x if value is Op.AMAX else b.add(Op.NEG, [x])
        return (
            b.add(value, [x], dims=dims, keepdim=keepdim),
            b.add(Op.ARGMAX, [scores], dims=dims, keepdim=keepdim),
        )

    return rule


def _argmax(b: B, x: Any, dim: int | None = None, keepdim: bool = False) -> str:
    """The first index of the largest value (over the flattened tensor when dim is None)."""
    if dim is None:
        x = b.add(Op.RESHAPE, [x], shape=(math.prod(b.shape(x)),))
        dim = 0
    return b.add(Op.ARGMAX, [x], dims=reduced_dims(b.shape(x), dim), keepdim=keepdim)


def _truth_reduction(extreme: Op) -> Rule:
    """any = max over x != 0, all = min over it (as 0/1 integers, then back to bool)."""

    def rule(b: B, x: Any, dims: Any = None, keepdim: bool = False) -> str:
        truth = x if b.dtype(x) == "bool" else b.add(Op.CAST, [x], dtype="bool")
        as_int = b.add(Op.CAST, [truth], dtype="int64")
        reduced = b.add(extreme, [as_int], dims=reduced_dims(b.shape(x), dims), keepdim=keepdim)
        return b.add(Op.CAST, [reduced], dtype="bool")

    return rule


MATH_RULES: dict[Any, Rule] = {
    aten.add.Tensor: _with_alpha(Op.ADD),
    aten.add.Scalar: _with_alpha(Op.ADD),
    aten.sub.Tensor: _with_alpha(Op.SUB),
    aten.sub.Scalar: _with_alpha(Op.SUB),
    aten.rsub.Scalar: lambda b, x, y, alpha=1: _with_alpha(Op.SUB)(b, y, x, alpha),
    aten.mul.Tensor: _binary(Op.MUL),
    aten.mul.Scalar: _binary(Op.MUL),
    aten.div.Tensor: _div,
    aten.div.Scalar: _div,
    aten.div.Tensor_mode: _div,
    aten.div.Scalar_mode: _div,
    aten.floor_divide.default: _binary(Op.DIV_ROUNDED, rounding="floor"),
    aten.floor_divide.Scalar: _binary(Op.DIV_ROUNDED, rounding="floor"),
    aten.remainder.Tensor: _binary(Op.MOD, rounding="floor"),
    aten.remainder.Scalar: _binary(Op.MOD, rounding="floor"),
    aten.remainder.Scalar_Tensor: _binary(Op.MOD, rounding="floor"),
    aten.fmod.Tensor: _binary(Op.MOD, rounding="trunc"),
    aten.fmod.Scalar: _binary(Op.MOD, rounding="trunc"),
    aten.floor.default: _rounded("floor"),
    aten.trunc.default: _rounded("trunc"),
    aten.ceil.default: _ceil,
    aten.sign.default: _sign,
    aten.bitwise_and.Tensor: _bitwise("and", Op.AND),
    aten.bitwise_and.Scalar: _bitwise("and", Op.AND),
    aten.bitwise_or.Tensor: _bitwise("or", Op.OR),
    aten.bitwise_or.Scalar: _bitwise("or", Op.OR),
    aten.bitwise_xor.Tensor: _bitwise("xor", Op.NE),
    aten.bitwise_xor.Scalar: _bitwise("xor", Op.NE),
    aten.bitwise_not.default: _bitwise_not,
    aten.bitwise_left_shift.Tensor: _binary(Op.BITWISE, fn="left_shift"),
    aten.bitwise_left_shift.Tensor_Scalar: _binary(Op.BITWISE, fn="left_shift"),
    aten.bitwise_right_shift.Tensor: _binary(Op.BITWISE, fn="right_shift"),
    aten.bitwise_right_shift.Tensor_Scalar: _binary(Op.BITWISE, fn="right_shift"),
    aten.__lshift__.Scalar: _binary(Op.BITWISE, fn="left_shift"),
    aten.__lshift__.Tensor: _binary(Op.BITWISE, fn="left_shift"),
    aten.__rshift__.Scalar: _binary(Op.BITWISE, fn="right_shift"),
    aten.__rshift__.Tensor: _binary(Op.BITWISE, fn="right_shift"),
    aten.pow.Tensor_Scalar: _binary(Op.POW),
    aten.pow.Tensor_Tensor: _binary(Op.POW),
    aten.pow.Scalar: _binary(Op.POW),
    aten.maximum.default: _binary(Op.MAXIMUM),
    aten.minimum.default: _binary(Op.MINIMUM),
    aten.clamp.default: _clamp,
    aten.clamp.Tensor: _clamp,
    aten.clamp_min.default: _clamp,
    aten.clamp_max.default: lambda b, x, hi: _clamp(b, x, None, hi),
    aten.eq.Tensor: _binary(Op.EQ),
    aten.eq.Scalar: _binary(Op.EQ),
    aten.ne.Tensor: _binary(Op.NE),
    aten.ne.Scalar: _binary(Op.NE),
    aten.lt.Tensor: _binary(Op.LT),
    aten.lt.Scalar: _binary(Op.LT),
    aten.le.Tensor: _binary(Op.LE),
    aten.le.Scalar: _binary(Op.LE),
    aten.gt.Tensor: _binary(Op.GT),
    aten.gt.Scalar: _binary(Op.GT),
    aten.ge.Tensor: _binary(Op.GE),
    aten.ge.Scalar: _binary(Op.GE),
    aten.logical_and.default: _binary(Op.AND),
    aten.logical_or.default: _binary(Op.OR),
    aten.logical_xor.default: lambda b, x, y: b.add(
        Op.NE, [b.add(Op.CAST, [x], dtype="bool"), b.add(Op.CAST, [y], dtype="bool")]
    ),
    aten.logical_not.default: _unary(Op.NOT),
    aten.where.self: _where,
    aten.masked_fill.Scalar: _masked_fill,
    aten.masked_fill.Tensor: _masked_fill,
    aten.neg.default: _unary(Op.NEG),
    aten.abs.default: _unary(Op.ABS),
    aten.exp.default: _unary(Op.EXP),
    aten.expm1.default: lambda b, x: b.add(Op.SUB, [b.add(Op.EXP, [x]), 1.0]),
    aten.log.default: _unary(Op.LOG),
    aten.log1p.default: _unary(Op.LOG1P),
    aten.sin.default: _unary(Op.SIN),
    aten.cos.default: _unary(Op.COS),
    aten.sqrt.default: _unary(Op.SQRT),
    aten.rsqrt.default: _unary(Op.RSQRT),
    aten.reciprocal.default: lambda b, x: b.add(Op.DIV, [1.0, x]),
    aten.tanh.default: _unary(Op.TANH),
    aten.sigmoid.default: _unary(Op.SIGMOID),
    aten.relu.default: _unary(Op.RELU),
    aten.erf.default: _unary(Op.ERF),
    aten.sum.dim_IntList: _reduction(Op.SUM),
    aten.sum.default: _reduction(Op.SUM),
    aten.amax.default: _reduction(Op.AMAX),
    aten.amin.default: _reduction(Op.AMIN),
    aten.max.default: _reduction(Op.AMAX),
    aten.min.default: _reduction(Op.AMIN),
    aten.mean.dim: _mean,
    aten.mean.default: _mean,
    aten.max.dim: _extreme_dim(Op.AMAX),
    aten.min.dim: _extreme_dim(Op.AMIN),
    aten.argmax.default: _argmax,
    aten.argmin.default: lambda b, x, dim=None, keepdim=False: _argmax(
        b, b.add(Op.NEG, [x]), dim, keepdim
    ),
    aten.var.correction: _variance,
    aten.linalg_vector_norm.default: _vector_norm,
    aten.any.default: _truth_reduction(Op.AMAX),
    aten.any.dim: _truth_reduction(Op.AMAX),
    aten.any.dims: _truth_reduction(Op.AMAX),
    aten.all.default: _truth_reduction(Op.AMIN),
    aten.all.dim: _truth_reduction(Op.AMIN),
    aten.all.dims: _truth_reduction(Op.AMIN),
}
