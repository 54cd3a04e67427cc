"""Matmuls and plain convolutions against constant weights as tile GEMMs: which ones (fusion.py
plans them), the call for a kernel's tile (M = count × rows), and the epilogue's activation on a
vector of accumulators.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from llvmlite import ir
from nnc.graph import Graph
from nnc.ops import Op

from .fusion import GemmPlan, plan_gemms
from .gemm import Epilogue, Gemm, emit_gemm
from .isa import Isa
from .kernel import F32, F64, Buffer, Kernel, call_math, i64, lane_of
from .lane_math import LANE_FUNCTIONS
from .narrow_conv import emit_narrow_conv, vectorises_positions

__all__ = ["emit_linear", "linear_plans"]


def linear_plans(graph: Graph, precision: str) -> dict[str, GemmPlan]:
    """The GEMMs whose left operand computes in the product's lane (read in place)."""
    lane = {n.name: lane_of(n.dtype, precision) for n in graph.nodes()}
    return {
        name: plan
        for name, plan in plan_gemms(graph).items()
        if lane[graph[name].inputs[0]] == lane[name]
        and graph[graph[name].inputs[0]].op is not Op.CONST
    }


def emit_linear(k: Kernel, plan: GemmPlan, isa: Isa) -> Buffer:
    """C = activation(A · W + bias) for every row of every sample, in one call: one GEMM function
    per node and kernel (its packed weights shared by the module's kernels); a convolution with few
    output channels vectorised over positions instead (narrow_conv.py), with the same sums."""
    if vectorises_positions(k, plan, isa):
        return emit_narrow_conv(k, plan, isa, _epilogue(plan.activation))
    node = k.graph[plan.matmul]
    a = k.buffers[node.inputs[0]]
    out = k.new_buffer(node)
    element = "float32" if out.lane == F32 else "float64"
    dtype = np.float32 if out.lane == F32 else np.float64
    name = f"gemm_{node.name}_{k.tile}"  # one per kernel: only the row counts its tile reaches
    gemm = k.module.globals.get(name)
    if gemm is None:
        bias = None if plan.bias is None else plan.bias.astype(dtype)
        k_, n = plan.weights.shape
        shape = Gemm(
            np.asarray(plan.weights, dtype=dtype),  # no copy when already of that type
            bias,
            element,
            plan.a_grid[-1][1] if plan.a_grid else k_,  # a grid's rows: its last axis' step
            n if plan.c_column == 1 else 1,
            plan.rows,
            a.sample_stride,
            out.sample_stride,
            plan.a_grid,
            plan.k_offsets,
            plan.c_column,
        )
        sizes = [count * plan.rows for count in range(1, k.tile + 1)]
        epilogue = _epilogue(plan.activation)
        gemm = emit_gemm(k.module, name, shape, isa, epilogue, sizes, f"gemm_{node.name}")
    k.b.call(gemm, [k.b.mul(k.count, i64(plan.rows)), a.ptr, out.ptr])
    return out


def _epilogue(activation: Op | None) -> Epilogue | None:
    """The activation on a vector of accumulators: relu inline, others through one out-of-line
    function per vector type (inlined in every micro-kernel they would multiply its code)."""
    if activation is None:
        return None
    if activation is Op.RELU:
        return relu
    return lambda b, v: b.call(_vector_function(b.module, activation, v.type), [v])


def relu(b: ir.IRBuilder, value: ir.Value) -> ir.Value:
    """max(value, 0) keeping NaN, on a scalar or a vector."""
    zero = ir.Constant(value.type, None)
    return b.select(b.fcmp_ordered("<", value, zero), zero, value)


def _double_tanh(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    return call_math(b, b.module, "tanh", [x])


def _double_sigmoid(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    one = ir.Constant(F64, 1.0)
    return b.fdiv(one, b.fadd(one, call_math(b, b.module, "llvm.exp.f64", [b.fneg(x)])))


# activation → one double value, as the elementwise emitters compute it (libm)
_DOUBLE: dict[Op, Callable[[ir.IRBuilder, ir.Value], ir.Value]] = {
    Op.TANH: _double_tanh,
    Op.SIGMOID: _double_sigmoid,
}


def _vector_function(module: ir.Module, activation: Op, vector: ir.VectorType) -> ir.Function:
    """`vector nnc.<op>.<type>(vector)`: the op on every lane, inline float math (lane_math) for
    float lanes, libm lane by lane for double ones."""
    kind = "f32" if vector.element == F32 else "f64"
    name = f"nnc.{activation.value}.v{vector.count}{kind}"
    found = module.globals.get(name)
    if found is not None:
        return found
    fn = ir.Function(module, ir.FunctionType(vector, [vector]), name)
    fn.linkage = "internal"
    fn.attributes.add("noinline")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    (value,) = fn.args
    if vector.element == F32:
        b.ret(LANE_FUNCTIONS[activation.value](b, value))
        return fn
    result = value
    for lane in range(vector.count):
        element = _DOUBLE[activation](b, b.extract_element(value, i64(lane)))
        result = b.insert_element(result, element, i64(lane))
    b.ret(result)
    return fn
