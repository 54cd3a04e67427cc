"""A convolution with few output channels, vectorised over output positions instead of channels.

The implicit-im2col GEMM (linear.py) puts output channels in the vector lanes. A first layer such
as LeNet's (1 → 6 channels, 5×5) fills 6 of 16 float lanes, and each of its 784 positions costs a
broadcast and a multiply-add per tap: 4.3 us of LeNet-5's 11.8 us per sample. Here the lanes are
consecutive positions along the last output axis (stride 1 there: their inputs are consecutive
too), each tap is one vector load shared by every output channel, and the channels' accumulators
stay in registers. The sums are the GEMM's: bias first, then one multiply-add per (input channel,
tap) in the same order, through the same `llvm.fmuladd`.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir

from .fusion import GemmPlan
from .gemm import Epilogue
from .isa import Isa
from .kernel import F32, I32, I64, Buffer, Kernel, call_math, constant_bytes, i64, lane_bytes, splat
from .masked import chunks, load_first, store_first

__all__ = ["emit_narrow_conv", "vectorises_positions"]

# accumulators one pass keeps in registers (a block of output channels); the rest of the register
# file holds the tap's vector and the broadcast weight
_CHANNEL_BLOCK = 8


def vectorises_positions(k: Kernel, plan: GemmPlan, isa: Isa) -> bool:
    """Whether the position-vectorised form beats the GEMM: a convolution whose output channels
    fill at most half the lanes, whose last output axis has stride 1 and fills half a vector, and
    whose input is stored in its lanes (read as vectors in place)."""
    if plan.k_offsets is None or not plan.a_grid:
        return False
    node = k.graph[plan.matmul]
    lane = k.lane(node.dtype)
    if k.buffers[node.inputs[0]].storage != lane:
        return False
    lanes = isa.lanes(lane_bytes(lane))
    channels = plan.weights.shape[1]
    last_count, last_stride = plan.a_grid[-1]
    return 2 * channels <= lanes and last_stride == 1 and 2 * last_count >= lanes


def emit_narrow_conv(k: Kernel, plan: GemmPlan, isa: Isa, epilogue: Epilogue | None) -> Buffer:
    """out[co, p] = epilogue(bias[co] + Σ_k A[p, k] · W[k, co]) for every position p of every
    sample, A[p, k] = x[p's grid offset + k_offsets[k]], written channels-first."""
    node = k.graph[plan.matmul]
    x = k.buffers[node.inputs[0]]
    out = k.new_buffer(node)
    lanes = isa.lanes(lane_bytes(out.lane))
    vector = ir.VectorType(out.lane, lanes)
    tables = _Tables(k, plan, out.lane)
    counts = [count for count, _ in plan.a_grid]
    steps = [step for _, step in plan.a_grid]
    out_strides = [math.prod(counts[d + 1 :]) for d in range(len(counts))]
    channels = plan.weights.shape[1]
    fmuladd = f"llvm.fmuladd.v{lanes}{'f32' if out.lane == F32 else 'f64'}"  # as the GEMM's
    blocks = [
        range(c, min(channels, c + _CHANNEL_BLOCK)) for c in range(0, channels, _CHANNEL_BLOCK)
    ]
    slots = [k.allocas.alloca(vector) for _ in range(min(channels, _CHANNEL_BLOCK))]
    b = k.b
    with k.samples(), k.nest(counts[:-1]) as outer:
        x_row = k.offset(outer, steps[:-1])
        out_row = k.offset(outer, out_strides[:-1])
        for first, used in chunks(counts[-1], lanes):
            for block in blocks:
                for slot, co in zip(slots, block):
                    b.store(tables.bias(vector, co), slot)
                with k.loop(plan.weights.shape[0]) as tap:
                    at = b.add(b.add(x_row, i64(first)), tables.offset(b, tap))
                    values = load_first(b, vector, k.element_pointer(x, at), used)
                    for slot, co in zip(slots, block):
                        weight = splat(b, vector, tables.weight(b, tap, co))
                        total = b.load(slot, typ=vector)
                        b.store(call_math(b, k.module, fmuladd, [values, weight, total]), slot)
                for slot, co in zip(slots, block):
                    total = b.load(slot, typ=vector)
                    total = total if epilogue is None else epilogue(b, total)
                    at = b.add(out_row, i64(co * plan.rows + first))
                    store_first(b, total, k.element_pointer(out, at), used)
    return out


class _Tables:
    """The module constants the loops read: each k's offset from a position's input, the weights
    (k, channels) and the bias, in the output's lane type."""

    def __init__(self, k: Kernel, plan: GemmPlan, lane: ir.Type) -> None:
        dtype = np.float32 if lane == F32 else np.float64
        name = f"conv_{plan.matmul}"
        self.lane, self.channels = lane, plan.weights.shape[1]
        offsets = np.asarray(plan.k_offsets, dtype=np.int32)
        self.offsets = constant_bytes(k.module, f"{name}.k_offsets", offsets)
        weights = np.ascontiguousarray(plan.weights, dtype=dtype)
        self.weights = constant_bytes(k.module, f"{name}.weights", weights)
        self.biases = None if plan.bias is None else np.asarray(plan.bias, dtype=dtype)

    def offset(self, b: ir.IRBuilder, tap: ir.Value) -> ir.Value:
        entry = b.gep(self.offsets, [tap], source_etype=I32)
        return b.sext(b.load(entry, typ=I32, align=4), I64)

    def weight(self, b: ir.IRBuilder, tap: ir.Value, channel: int) -> ir.Value:
        index = b.add(b.mul(tap, i64(self.channels)), i64(channel))
        return b.load(b.gep(self.weights, [index], source_etype=self.lane), typ=self.lane)

    def bias(self, vector: ir.VectorType, channel: int) -> ir.Constant:
        value = 0.0 if self.biases is None else float(self.biases[channel])
        return ir.Constant(vector, [value] * vector.count)
