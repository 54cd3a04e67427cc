"""Which matmuls become packed-panel GEMMs over a tile of samples, and which of their consumers
fold into the GEMM's epilogue: an analysis of the Graph, no code emitted.

A MATMUL is a GEMM when its right operand is a constant (K, N) matrix (leading dimensions of size
1 only) and its left operand's K-long rows are contiguous within a sample: then a tile of T
samples is one (T·R) × K product, R rows per sample. Its epilogue absorbs, while each value has
that single consumer: an ADD of a constant that varies along the last axis only (the bias), then
one activation (RELU, TANH, SIGMOID), reshapes (views of the same buffer) anywhere between. The
GEMM writes the buffer of the last absorbed node; the absorbed nodes emit nothing.

A CONV is a GEMM over an implicit im2col matrix when it is a plain one (not transposed, one group,
no padding — padding.py first makes zero padding explicit —, constant weights and bias): A's rows are the output positions, read through a grid
of strides and a table of (channel, tap) offsets, C is written channels-first (its columns
`rows` apart); its epilogue absorbs one activation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from nnc.graph import Graph, Node
from nnc.ops import Op

__all__ = ["EPILOGUE_ACTIVATIONS", "GemmPlan", "gemm_shaped_convolution", "plan_gemms"]

EPILOGUE_ACTIVATIONS = (Op.RELU, Op.TANH, Op.SIGMOID)
_FLOATS = ("float32", "float64")


@dataclass(frozen=True)
class GemmPlan:
    """One GEMM: C (the `output` node's buffer) = activation(A · weights + bias), per sample
    `rows` rows of A (the `matmul` node's left operand)."""

    matmul: str
    output: str
    rows: int
    weights: np.ndarray  # (K, N)
    bias: np.ndarray | None  # (N,)
    activation: Op | None
    absorbed: tuple[str, ...]  # the nodes after the matmul computed by its epilogue
    a_grid: tuple[tuple[int, int], ...] = ()  # a convolution's rows: (count, stride) per axis
    k_offsets: tuple[int, ...] | None = None  # ... and where each of k lies from a row's start
    c_column: int = 1  # elements between C's columns (a convolution's: its positions)


def plan_gemms(graph: Graph) -> dict[str, GemmPlan]:
    """Every GEMM of the graph, keyed by its MATMUL node's name."""
    plans = {}
    for node in graph.nodes():
        planner = _PLANNERS.get(node.op)
        if planner is not None and (plan := planner(graph, node)) is not None:
            plans[node.name] = plan
    return plans


def _plan(graph: Graph, matmul: Node) -> GemmPlan | None:
    left, right = (graph[name] for name in matmul.inputs)
    if right.op is not Op.CONST or matmul.dtype not in _FLOATS or not left.shape:
        return None
    if len(right.shape) < 2 or math.prod(right.shape[:-2]) != 1:  # 1-D or batched weights
        return None
    k, n = right.shape[-2:]
    if left.shape[-1] != k or matmul.numel == 0:
        return None
    weights = _native(right.value.detach().reshape(k, n))
    rows = math.prod(left.shape[:-1])
    bias, activation, absorbed, last = _epilogue(graph, matmul, n, take_bias=True)
    return GemmPlan(matmul.name, last.name, rows, weights, bias, activation, absorbed)


def _epilogue(
    graph: Graph, product: Node, n: int, take_bias: bool
) -> tuple[np.ndarray | None, Op | None, tuple[str, ...], Node]:
    """(bias, activation, absorbed nodes, last absorbed node) of the epilogue after `product`."""
    bias, activation, absorbed, last = None, None, [], product
    while activation is None and (following := _sole_user(graph, last)) is not None:
        if following.op is Op.RESHAPE:  # a view of the same buffer
            pass
        elif take_bias and bias is None and (found := _bias(graph, following, last, n)) is not None:
            bias = found
        elif following.op in EPILOGUE_ACTIVATIONS and following.dtype == product.dtype:
            activation = following.op
        else:
            break
        absorbed.append(following.name)
        last = following
    return bias, activation, tuple(absorbed), last


def _conv_plan(graph: Graph, conv: Node) -> GemmPlan | None:
    """A plain convolution as a GEMM: K = input channels × taps, N = output channels, one row per
    output position, C channels-first."""
    a = conv.attrs
    x, weight, *rest = (graph[name] for name in conv.inputs)
    if not (gemm_shaped_convolution(graph, conv) and not any(a["padding"]) and conv.numel):
        return None
    channels_out, channels_in, *taps = weight.shape
    in_sizes, out_sizes = x.shape[2:], conv.shape[2:]
    in_strides = [math.prod(in_sizes[d + 1 :]) for d in range(len(in_sizes))]
    k_offsets = tuple(
        c * math.prod(in_sizes)
        + sum(t * a["dilation"][d] * in_strides[d] for d, t in enumerate(tap))
        for c in range(channels_in)
        for tap in np.ndindex(*taps)
    )
    a_grid = tuple((size, a["stride"][d] * in_strides[d]) for d, size in enumerate(out_sizes))
    weights = _native(weight.value.detach().reshape(channels_out, -1).T.contiguous())
    bias = rest[0].value.detach().double().reshape(-1).numpy() if rest else None
    _, activation, absorbed, last = _epilogue(graph, conv, channels_out, take_bias=False)
    rows = math.prod(out_sizes)
    return GemmPlan(
        conv.name, last.name, rows, weights, bias, activation, absorbed, a_grid, k_offsets, rows
    )


def gemm_shaped_convolution(graph: Graph, conv: Node) -> bool:
    """A convolution an implicit-im2col GEMM computes, padding aside: not transposed, one group,
    constant weights and bias, float values (padding.py makes zero padding explicit)."""
    a = conv.attrs
    constants = all(graph[name].op is Op.CONST for name in conv.inputs[1:])
    return not a["transposed"] and a["groups"] == 1 and constants and conv.dtype in _FLOATS


_PLANNERS = {Op.MATMUL: _plan, Op.CONV: _conv_plan}


def _native(values: torch.Tensor) -> np.ndarray:
    """The weights as numpy in their own float type, sharing the graph's memory where they can:
    a float64 copy of a large network's weights would cost 8 bytes per parameter more."""
    return (
        values.numpy()
        if values.dtype in (torch.float32, torch.float64)
        else values.double().numpy()
    )


def _sole_user(graph: Graph, node: Node) -> Node | None:
    """The one consumer of `node`, unless it is a graph output or has several."""
    users = graph.users(node.name)
    if len(users) != 1 or node.name in graph.outputs:
        return None
    return graph[users[0]]


def _bias(graph: Graph, add: Node, product: Node, n: int) -> np.ndarray | None:
    """The (N,) vector `add` adds to `product`, if it is an ADD of a constant that varies along
    the last axis only and leaves the shape and dtype alone."""
    if add.op is not Op.ADD or add.shape != product.shape or add.dtype != product.dtype:
        return None
    if not product.shape or product.shape[-1] != n:  # a reshape moved the columns
        return None
    others = [graph[name] for name in add.inputs if name != product.name]
    if len(others) != 1 or others[0].op is not Op.CONST:
        return None
    constant = others[0]
    if math.prod(constant.shape[:-1]) != 1 or (constant.shape and constant.shape[-1] not in (1, n)):
        return None
    values = constant.value.detach().double().reshape(-1).numpy()
    return np.broadcast_to(values, (n,)).copy()
