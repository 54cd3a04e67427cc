"""Emitters for the windowed ops, convolution and pooling, over any number of spatial axes.

Both are loops over the output positions with the window's reduction innermost. A window
position outside the input (padding, or a transposed convolution's gaps) reads a clamped
address and contributes nothing: no branch in the inner loop and no out-of-bounds load. These
emitters are correct, not fast: plain convolutions (one group, constant weights; zero padding
made explicit by padding.py) run as packed-panel GEMMs over an implicit im2col instead (fusion.py,
linear.py, or narrow_conv.py for few output channels), and max pooling whose windows stay inside
the input as vectors (vector_pool.py); these loops take the rest (grouped, transposed, padded or
dilated pooling, average pooling).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from llvmlite import ir
from nnc.graph import Node

from .kernel import F64, I1, Buffer, Kernel, i64, strides

__all__ = ["emit_conv", "emit_pool"]

_ZERO = ir.Constant(F64, 0.0)


def _all(k: Kernel, bits: Sequence[ir.Value]) -> ir.Value:
    total: ir.Value = ir.Constant(I1, 1)
    for bit in bits:
        total = k.b.and_(total, bit)
    return total


def _clamped(k: Kernel, position: ir.Value, size: int) -> ir.Value:
    """position limited to [0, size - 1]: a safe address for a value that will be discarded."""
    low = k.b.select(k.b.icmp_signed("<", position, i64(0)), i64(0), position)
    return k.b.select(k.b.icmp_signed(">", low, i64(size - 1)), i64(size - 1), low)


def _window_reads(
    k: Kernel, node: Node, out: Sequence[ir.Value], taps: Sequence[ir.Value], sizes: Sequence[int]
) -> tuple[list[ir.Value], ir.Value]:
    """Input positions read by output position `out` at window tap `taps` along every spatial
    axis (clamped into the input), and whether all of them are real input elements."""
    a = node.attrs
    positions, valid = [], []
    for d, (o, t, size) in enumerate(zip(out, taps, sizes)):
        stride, pad, dilation = a["stride"][d], a["padding"][d], a["dilation"][d]
        tap = k.b.mul(t, i64(dilation))
        if a.get("transposed"):  # out = in·stride - pad + tap·dilation, solved for in
            shifted = k.b.sub(k.b.add(o, i64(pad)), tap)
            position = k.b.sdiv(shifted, i64(stride))
            valid += [
                k.b.icmp_signed(">=", shifted, i64(0)),
                k.b.icmp_signed("==", k.b.srem(shifted, i64(stride)), i64(0)),
            ]
        else:
            position = k.b.add(k.b.sub(k.b.mul(o, i64(stride)), i64(pad)), tap)
            valid.append(k.b.icmp_signed(">=", position, i64(0)))
        valid.append(k.b.icmp_signed("<", position, i64(size)))
        positions.append(_clamped(k, position, size))
    return positions, _all(k, valid)


def emit_conv(k: Kernel, node: Node) -> Buffer:
    """out[n, co, o] = bias[co] + Σ_{ci in co's group, taps} x[n, ci, in(o, tap)] · w[...]."""
    x, w = k.buffers[node.inputs[0]], k.buffers[node.inputs[1]]
    bias = k.buffers[node.inputs[2]] if len(node.inputs) == 3 else None
    transposed, groups = node.attrs["transposed"], node.attrs["groups"]
    out = k.new_buffer(node)
    batch, channels_out, *out_sizes = node.shape
    channels_in, in_sizes = x.shape[1], x.shape[2:]
    per_group_in, per_group_out = channels_in // groups, channels_out // groups
    taps = w.shape[2:]
    x_strides, w_strides, out_strides = strides(x.shape), strides(w.shape), strides(node.shape)
    total = k.scratch(F64)
    with k.samples(), k.nest([batch, channels_out]) as (n, co), k.nest(out_sizes) as o:
        group = k.b.sdiv(co, i64(per_group_out))
        start = k.load(bias, co, F64) if bias is not None else _ZERO
        k.b.store(start, total)
        with k.loop(per_group_in) as ci, k.nest(taps) as t:
            channel = k.b.add(k.b.mul(group, i64(per_group_in)), ci)
            positions, valid = _window_reads(k, node, o, t, in_sizes)
            value = k.load(x, k.offset([n, channel, *positions], x_strides), F64)
            # weight (out, in/groups, taps); transposed (in, out/groups, taps)
            w_index = [channel, k.b.srem(co, i64(per_group_out))] if transposed else [co, ci]
            weight = k.load(w, k.offset([*w_index, *t], w_strides), F64)
            term = k.b.select(valid, k.b.fmul(value, weight), _ZERO)
            k.b.store(k.b.fadd(k.b.load(total, typ=F64), term), total)
        k.store(out, k.offset([n, co, *o], out_strides), k.b.load(total, typ=F64))
    return out


def emit_pool(k: Kernel, node: Node) -> Buffer:
    """Max (NaN-propagating, as torch) or average over each window; the average's divisor is
    torch's: divisor_override, else the window clipped to the padded input (count_include_pad)
    or to the input."""
    x = k.buffers[node.inputs[0]]
    a = node.attrs
    out = k.new_buffer(node)
    leading, sizes = node.shape[:2], x.shape[2:]
    x_strides, out_strides = strides(x.shape), strides(node.shape)
    maximum = a["kind"] == "max"
    total = k.scratch(F64)
    with k.samples(), k.nest([*leading, *node.shape[2:]]) as index:
        n, c, o = index[0], index[1], index[2:]
        k.b.store(ir.Constant(F64, -math.inf) if maximum else _ZERO, total)
        with k.nest(a["kernel"]) as t:
            positions, valid = _window_reads(k, node, o, t, sizes)
            value = k.load(x, k.offset([n, c, *positions], x_strides), F64)
            current = k.b.load(total, typ=F64)
            if maximum:
                better = k.b.or_(
                    k.b.fcmp_ordered(">", value, current), k.b.fcmp_unordered("uno", value, value)
                )
                k.b.store(k.b.select(k.b.and_(valid, better), value, current), total)
            else:
                k.b.store(k.b.fadd(current, k.b.select(valid, value, _ZERO)), total)
        result = k.b.load(total, typ=F64)
        if not maximum:
            result = k.b.fdiv(result, _divisor(k, node, o, sizes))
        k.store(out, k.offset(index, out_strides), result)
    return out


def _divisor(k: Kernel, node: Node, out: Sequence[ir.Value], sizes: Sequence[int]) -> ir.Value:
    a = node.attrs
    if a["divisor_override"]:
        return ir.Constant(F64, float(a["divisor_override"]))
    count: ir.Value = i64(1)
    for d, (o, size) in enumerate(zip(out, sizes)):
        stride, pad, kernel = a["stride"][d], a["padding"][d], a["kernel"][d]
        first = k.b.sub(k.b.mul(o, i64(stride)), i64(pad))
        end = _min(k, k.b.add(first, i64(kernel)), i64(size + pad))
        if not a["count_include_pad"]:
            first = k.b.select(k.b.icmp_signed("<", first, i64(0)), i64(0), first)
            end = _min(k, end, i64(size))
        count = k.b.mul(count, k.b.sub(end, first))
    return k.b.sitofp(count, F64)


def _min(k: Kernel, a: ir.Value, b: ir.Value) -> ir.Value:
    return k.b.select(k.b.icmp_signed("<", a, b), a, b)
