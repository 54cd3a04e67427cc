"""Lowering rules for network layers: matrix products, convolutions, pooling, softmax,
normalisations and activations torch keeps as single ATen ops. One row per op in NN_RULES."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from .frontend_builder import Builder, Rule, Unavailable, reduced_dims
from .ops import Op

__all__ = ["NN_RULES"]

aten = torch.ops.aten
B = Builder


# --- products --------------------------------------------------------------------------------


def _addmm(b: B, bias: Any, x: Any, y: Any, beta: Any = 1, alpha: Any = 1) -> str:
    product = b.add(Op.MATMUL, [x, y])
    if alpha != 1:
        product = b.add(Op.MUL, [product, alpha])
    if beta != 1:
        bias = b.add(Op.MUL, [bias, beta])
    return b.add(Op.ADD, [product, bias])


def _convolution(
    b: B,
    x: Any,
    weight: Any,
    bias: Any,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    transposed: bool,
    output_padding: Sequence[int],
    groups: int,
) -> str:
    rank = len(b.shape(x)) - 2
    inputs = [x, weight] + ([bias] if bias is not None else [])
    return b.add(
        Op.CONV,
        inputs,
        stride=_per_axis(stride, rank, 1),
        padding=_per_axis(padding, rank, 0),
        dilation=_per_axis(dilation, rank, 1),
        transposed=bool(transposed),
        output_padding=_per_axis(output_padding, rank, 0),
        groups=int(groups),
    )


def _per_axis(values: Any, rank: int, default: int) -> tuple[int, ...]:
    """aten's int-or-list window parameters as one int per spatial axis."""
    if isinstance(values, int):
        return (values,) * rank
    values = list(values) or [default]
    return tuple(values * rank if len(values) == 1 else values)


# --- pooling ---------------------------------------------------------------------------------


def _pool(
    b: B,
    x: Any,
    kind: str,
    kernel: Any,
    stride: Any,
    padding: Any,
    dilation: Any = 1,
    ceil_mode: bool = False,
    count_include_pad: bool = False,
    divisor_override: int | None = None,
) -> str:
    """One POOL node; aten's window parameters as one int per spatial axis (stride defaults to
    the kernel)."""
    rank = len(b.shape(x)) - 2
    kernel = _per_axis(kernel, rank, 1)
    return b.add(
        Op.POOL,
        [x],
        kind=kind,
        kernel=kernel,
        stride=_per_axis(stride, rank, 1) if stride else kernel,
        padding=_per_axis(padding, rank, 0),
        dilation=_per_axis(dilation, rank, 1),
        ceil_mode=bool(ceil_mode),
        count_include_pad=bool(count_include_pad),
        divisor_override=divisor_override,
    )


def _max_pool(
    b: B,
    x: Any,
    kernel: Sequence[int],
    stride: Sequence[int] = (),
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
) -> tuple[str, Unavailable]:
    out = _pool(b, x, "max", kernel, stride, padding, dilation, ceil_mode)
    return out, Unavailable("max-pool indices (return_indices=True)")


def _avg_pool(
    b: B,
    x: Any,
    kernel: Sequence[int],
    stride: Sequence[int] = (),
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> str:
    return _pool(
        b, x, "avg", kernel, stride, padding, 1, ceil_mode, count_include_pad, divisor_override
    )


def _windows(size: int, out: int) -> list[tuple[int, int]]:
    """Adaptive pooling's window [start, end) for each output position along one axis."""
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


def _adaptive_pool(b: B, x: Any, output_size: Sequence[int], kind: str) -> str:
    """Adaptive pooling: one POOL when every axis divides evenly; otherwise axis by axis (a box
    maximum or mean is the maximum or mean along each axis in turn), a mean as a MATMUL with its
    averaging matrix and a maximum as one reduction per window."""
    sizes = b.shape(x)[2:]
    out_sizes = [s if o is None else o for s, o in zip(sizes, output_size)]
    if all(s % o == 0 for s, o in zip(sizes, out_sizes)):
        kernel = [s // o for s, o in zip(sizes, out_sizes)]
        return _max_pool(b, x, kernel)[0] if kind == "max" else _avg_pool(b, x, kernel)
    for axis, (size, out) in enumerate(zip(sizes, out_sizes), start=2):
        if size != out:
            x = _adaptive_axis(b, x, axis, _windows(size, out), kind)
    return x


def _adaptive_max_pool(b: B, x: Any, output_size: Sequence[int]) -> tuple[str, Unavailable]:
    indices = Unavailable("adaptive max-pool indices (return_indices=True)")
    return _adaptive_pool(b, x, output_size, "max"), indices


def _adaptive_axis(b: B, x: Any, axis: int, windows: list[tuple[int, int]], kind: str) -> str:
    if kind == "max":
        windowed = [b.add(Op.SLICE, [x], dim=axis, start=lo, end=hi, step=1) for lo, hi in windows]
        parts = [b.add(Op.AMAX, [w], dims=(axis,), keepdim=True) for w in windowed]
        return b.add(Op.CAT, parts, dim=axis)
    size = b.shape(x)[axis]
    matrix = torch.zeros(size, len(windows), dtype=b.traced().dtype)
    for column, (lo, hi) in enumerate(windows):
        matrix[lo:hi, column] = 1.0 / (hi - lo)
    return b.map_axis(x, axis, matrix)


# --- normalisation ---------------------------------------------------------------------------


def _softmax(b: B, x: Any, dim: int, *_: Any) -> str:
    dims = reduced_dims(b.shape(x), dim)
    shifted = b.add(Op.SUB, [x, b.add(Op.AMAX, [x], dims=dims, keepdim=True)])
    exps = b.add(Op.EXP, [shifted])
    return b.add(Op.DIV, [exps, b.add(Op.SUM, [exps], dims=dims, keepdim=True)])


def _log_softmax(b: B, x: Any, dim: int, *_: Any) -> str:
    dims = reduced_dims(b.shape(x), dim)
    shifted = b.add(Op.SUB, [x, b.add(Op.AMAX, [x], dims=dims, keepdim=True)])
    total = b.add(Op.SUM, [b.add(Op.EXP, [shifted])], dims=dims, keepdim=True)
    return b.add(Op.SUB, [shifted, b.add(Op.LOG, [total])])


def _normalize(b: B, x: Any, dims: tuple[int, ...], eps: float) -> tuple[str, str, str]:
    """(x - mean) / sqrt(biased variance + eps) over dims, two-pass as torch; also mean, rstd."""
    count = float(math.prod(b.shape(x)[d] for d in dims))
    mean = b.add(Op.DIV, [b.add(Op.SUM, [x], dims=dims, keepdim=True), count])
    centered = b.add(Op.SUB, [x, mean])
    squares = b.add(Op.SUM, [b.add(Op.MUL, [centered, centered])], dims=dims, keepdim=True)
    rstd = b.add(Op.RSQRT, [b.add(Op.ADD, [b.add(Op.DIV, [squares, count]), eps])])
    return b.add(Op.MUL, [centered, rstd]), mean, rstd


def _affine(b: B, x: str, weight: Any, bias: Any, per_channel: bool = False) -> str:
    """x · weight + bias (either may be None), per channel (axis 1) when asked."""
    for op, value in ((Op.MUL, weight), (Op.ADD, bias)):
        if value is not None:
            x = b.add(op, [x, _per_channel(b, value, len(b.shape(x))) if per_channel else value])
    return x


def _per_channel(b: B, value: Any, rank: int) -> Any:
    """A (C,) vector shaped (C, 1, ...) to broadcast along axis 1 of a rank-`rank` tensor."""
    shape = (b.shape(value)[0],) + (1,) * (rank - 2)
    if isinstance(value, torch.Tensor):
        return value.reshape(shape)
    return b.add(Op.RESHAPE, [value], shape=shape)


def _layer_norm(
    b: B, x: Any, normalized: Sequence[int], weight: Any, bias: Any, eps: float
) -> tuple[str, str, str]:
    rank = len(b.shape(x))
    normed, mean, rstd = _normalize(b, x, tuple(range(rank - len(normalized), rank)), eps)
    return _affine(b, normed, weight, bias), mean, rstd


def _batch_norm(
    b: B, x: Any, weight: Any, bias: Any, mean: Any, var: Any, momentum: float, eps: float
) -> tuple[str, None, None]:
    """Eval-mode batch norm: with constant statistics and affine parameters (the usual case) all
    but x folds into one scale and shift per channel."""
    parameters = (weight, bias, mean, var)
    rank = len(b.shape(x))
    if all(not isinstance(p, str) for p in parameters):
        scale = torch.rsqrt(var + eps) * (weight if weight is not None else 1)
        shift = (bias if bias is not None else 0) - mean * scale
        out = b.add(Op.MUL, [x, _per_channel(b, scale, rank)])
        return b.add(Op.ADD, [out, _per_channel(b, shift, rank)]), None, None
    centered = b.add(Op.SUB, [x, _per_channel(b, mean, rank)])
    rstd = b.add(Op.RSQRT, [b.add(Op.ADD, [_per_channel(b, var, rank), eps])])
    return _affine(b, b.add(Op.MUL, [centered, rstd]), weight, bias, True), None, None


def _batch_statistics_norm(
    b: B, x: Any, weight: Any, bias: Any, training: bool, momentum: float, eps: float
) -> tuple[str, str, str]:
    """Batch norm over the statistics of its input (InstanceNorm reshapes so that they are one
    sample's): normalise over every axis but the channels."""
    rank = len(b.shape(x))
    normed, mean, rstd = _normalize(b, x, (0, *range(2, rank)), eps)
    return _affine(b, normed, weight, bias, per_channel=True), mean, rstd


def _group_norm(
    b: B, x: Any, weight: Any, bias: Any, n: int, channels: int, hw: int, groups: int, eps: float
) -> tuple[str, str, str]:
    shape = b.shape(x)
    grouped = b.add(Op.RESHAPE, [x], shape=(shape[0], groups, math.prod(shape[1:]) // groups))
    normed, mean, rstd = _normalize(b, grouped, (2,), eps)
    back = b.add(Op.RESHAPE, [normed], shape=shape)
    return _affine(b, back, weight, bias, per_channel=True), mean, rstd


# --- activations -----------------------------------------------------------------------------


def _gelu(b: B, x: Any, approximate: str = "none") -> str:
    """0.5·x·(1 + erf(x/√2)), or the tanh approximation torch uses with approximate='tanh'."""
    if approximate == "tanh":
        cube = b.add(Op.MUL, [b.add(Op.MUL, [x, x]), x])
        inner = b.add(Op.ADD, [x, b.add(Op.MUL, [cube, 0.044715])])
        core = b.add(Op.TANH, [b.add(Op.MUL, [inner, math.sqrt(2 / math.pi)])])
    else:
        core = b.add(Op.ERF, [b.add(Op.MUL, [x, 1 / math.sqrt(2)])])
    return b.add(Op.MUL, [b.add(Op.MUL, [x, 0.5]), b.add(Op.ADD, [core, 1.0])])


def _leaky_relu(b: B, x: Any, slope: float = 0.01) -> str:
    return b.add(Op.WHERE, [b.add(Op.GT, [x, 0.0]), x, b.add(Op.MUL, [x, slope])])


def _elu(b: B, x: Any, alpha: float = 1.0, scale: float = 1.0, input_scale: float = 1.0) -> str:
    """ELU, SELU and CELU: scale·x above 0, scale·alpha·(exp(input_scale·x) - 1) at or below."""
    grown = b.add(Op.SUB, [b.add(Op.EXP, [b.add(Op.MUL, [x, float(input_scale)])]), 1.0])
    negative = b.add(Op.MUL, [grown, float(alpha * scale)])
    positive = b.add(Op.MUL, [x, float(scale)]) if scale != 1 else x
    return b.add(Op.WHERE, [b.add(Op.GT, [x, 0.0]), positive, negative])


def _rrelu(
    b: B,
    x: Any,
    noise: Any,
    lower: float = 0.125,
    upper: float = 1 / 3,
    training: bool = False,
    generator: Any = None,
) -> tuple[str, Any]:
    """RReLU at inference: a leaky ReLU with the mean slope (lower + upper) / 2."""
    if training:
        raise b.unsupported("RReLU in training mode (random slopes)", hint="call model.eval()")
    return _leaky_relu(b, x, (lower + upper) / 2), noise


def _clamp_between(b: B, x: Any, lo: float = -1.0, hi: float = 1.0) -> str:
    return b.add(Op.MINIMUM, [b.add(Op.MAXIMUM, [x, lo]), hi])


NN_RULES: dict[Any, Rule] = {
    aten.addmm.default: _addmm,
    aten.mm.default: lambda b, x, y: b.add(Op.MATMUL, [x, y]),
    aten.bmm.default: lambda b, x, y: b.add(Op.MATMUL, [x, y]),
    aten.matmul.default: lambda b, x, y: b.add(Op.MATMUL, [x, y]),
    aten.convolution.default: _convolution,
    aten.max_pool2d_with_indices.default: _max_pool,
    aten.max_pool3d_with_indices.default: _max_pool,
    aten.avg_pool1d.default: _avg_pool,
    aten.avg_pool2d.default: _avg_pool,
    aten.avg_pool3d.default: _avg_pool,
    aten._adaptive_avg_pool2d.default: lambda b, x, size: _adaptive_pool(b, x, size, "avg"),
    aten._adaptive_avg_pool3d.default: lambda b, x, size: _adaptive_pool(b, x, size, "avg"),
    aten.adaptive_max_pool2d.default: _adaptive_max_pool,
    aten.adaptive_max_pool3d.default: _adaptive_max_pool,
    aten._softmax.default: _softmax,
    aten._log_softmax.default: _log_softmax,
    aten.native_layer_norm.default: _layer_norm,
    aten._native_batch_norm_legit_no_training.default: _batch_norm,
    aten._native_batch_norm_legit.no_stats: _batch_statistics_norm,
    aten.native_group_norm.default: _group_norm,
    aten.gelu.default: _gelu,
    aten.leaky_relu.default: _leaky_relu,
    aten.elu.default: _elu,
    aten.rrelu_with_noise_functional.default: _rrelu,
    aten.hardtanh.default: _clamp_between,
}
