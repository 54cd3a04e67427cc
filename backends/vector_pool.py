"""Max pooling vectorised along the last spatial axis, for windows that stay inside the input.

windows.py pools one output at a time, clamping every tap's position and selecting on its
validity: about 1.5 us of LeNet-5's one-sample time for its first 2×2 pooling. When no window
reaches padding or past the input (no padding, dilation 1, every window inside), the taps need no
checks: one output vector's tap along the last axis is every stride-th element of a run of
contiguous inputs, loaded at once (masked at the row's end) and picked out by a shuffle. The
maximum is torch's, as windows.py computes it: NaN wins, else the larger, from -inf.
"""

from __future__ import annotations

import itertools
import math

from llvmlite import ir
from nnc.graph import Node

from .isa import Isa
from .kernel import I32, Buffer, Kernel, i64, lane_bytes, strides
from .masked import chunks, load_first, store_first

__all__ = ["emit_vector_max_pool", "vectorises_pool"]


def vectorises_pool(k: Kernel, node: Node, isa: Isa) -> bool:
    """A max pooling with no padding and dilation 1 whose windows all lie inside the input,
    stored in its lanes, with at least half a vector of outputs along the last axis."""
    a = node.attrs
    x = k.buffers[node.inputs[0]]
    lane = k.lane(node.dtype)
    if a["kind"] != "max" or any(a["padding"]) or any(d != 1 for d in a["dilation"]):
        return False
    if x.storage != lane or len(node.shape) < 3:
        return False
    inside = all(
        (out - 1) * stride + kernel <= size
        for out, stride, kernel, size in zip(node.shape[2:], a["stride"], a["kernel"], x.shape[2:])
    )
    return inside and 2 * node.shape[-1] >= isa.lanes(lane_bytes(lane))


def emit_vector_max_pool(k: Kernel, node: Node, isa: Isa) -> Buffer:
    """out[n, c, o] = max over the window of x[n, c, o·stride + tap], a vector of outputs along
    the last axis at a time."""
    a = node.attrs
    x = k.buffers[node.inputs[0]]
    out = k.new_buffer(node)
    lane = out.lane
    lanes = isa.lanes(lane_bytes(lane))
    vector = ir.VectorType(lane, lanes)
    stride, kernel = a["stride"][-1], a["kernel"][-1]
    wide = ir.VectorType(lane, stride * lanes)  # the run of inputs one tap's lanes come from
    picks = ir.Constant(ir.VectorType(I32, lanes), [j * stride for j in range(lanes)])
    x_strides, out_strides = strides(x.shape), strides(node.shape)
    leading_kernel = a["kernel"][:-1]
    width = node.shape[-1]
    b = k.b
    with k.samples(), k.nest(node.shape[1:-1]) as index:  # channel, then the leading axes
        channel, outer = index[0], index[1:]
        out_row = k.offset([channel, *outer], out_strides[1:-1])
        for first, used in chunks(width, lanes):
            maximum: ir.Value = ir.Constant(vector, [-math.inf] * lanes)
            for taps in itertools.product(*map(range, leading_kernel)):  # a few: unrolled
                rows = [
                    b.add(b.mul(o, i64(s)), i64(t))
                    for o, s, t in zip(outer, a["stride"][:-1], taps)
                ]
                x_row = k.offset([channel, *rows], x_strides[1:-1])
                for tap in range(kernel):
                    start = b.add(x_row, i64(first * stride + tap))
                    pointer = k.element_pointer(x, start)
                    run = load_first(b, wide, pointer, (used - 1) * stride + 1)
                    values = b.shuffle_vector(
                        run, ir.Constant(wide, ir.Undefined), picks, "pool.tap"
                    )
                    maximum = _nan_max(b, values, maximum)
            at = b.add(out_row, i64(first))
            store_first(b, maximum, k.element_pointer(out, at), used)
    return out


def _nan_max(b: ir.IRBuilder, values: ir.Value, maximum: ir.Value) -> ir.Value:
    """Lane by lane: `values` where it is NaN or larger, else `maximum` (windows.py's rule)."""
    larger = b.fcmp_ordered(">", values, maximum)
    nan = b.fcmp_unordered("uno", values, values)
    return b.select(b.or_(larger, nan), values, maximum)
