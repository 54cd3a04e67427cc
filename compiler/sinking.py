"""Slice sinking: move the slices that pick one position of a token sequence toward the sequence
input, so that every step of an unrolled recurrence reads its own token.

torch.export unrolls nn.RNN/GRU/LSTM and computes the input projection of every position at once;
each step then slices its row. Sinking the slice makes each step compute its own row:

    %e : f32[1, 4, 8]  = take(%c, %s, dim=0)             %s1 : i64[1, 1] = slice(%s, dim=1, start=1, end=2)
    %v : f32[4, 8]     = reshape(%e, shape=(4, 8))   →   %e1 : f32[1, 1, 8] = take(%c, %s1, dim=0)
    %p : f32[4, 18]    = matmul(%v, %w)                  %v1 : f32[1, 8] = reshape(%e1, shape=(1, 8))
    %r : f32[1, 18]    = slice(%p, dim=0, start=1, end=2)   %r  : f32[1, 18] = matmul(%v1, %w)

A slice moves through data movement (permute, reshape, expand, a slice along the same dimension)
and into the one part of a concatenation it reads, always; through a computation (elementwise,
matmul, gather, reduction) only when it is *position-selective*: the elements it keeps depend on
fewer token positions than the whole node does (`position_dependence`, measured by changing one
position at a time). Slicing commutes with every one of these ops, so the rewrite is exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from .graph import Graph, Node
from .interpret import evaluate_node, node_values
from .ops import DTYPES, OP_TABLE, Op
from .rewrite import rewrite

__all__ = ["position_dependence", "sink_position_slices"]

DEPENDENCE_ROUNDS = 3  # random strings each position is changed in
MAX_ROUNDS = 8  # sinking rounds (dependence is measured again between them)

Dependence = dict[str, np.ndarray]  # node → bool (*shape, positions): element depends on position


def position_dependence(
    graph: Graph, domains: Sequence[Sequence[float]], seed: int = 0
) -> Dependence:
    """Which token positions each element of every node depends on: the one input is (1, L, ...)
    with `domains[i]` the values of its flat element i; each position is changed alone in a few
    random strings and the elements that move are marked. Measured, so a dependence the samples do
    not exercise can be missed; re-rolling verifies its result against the network."""
    (name,) = graph.inputs
    node = graph[name]
    length = node.shape[1]
    rng = np.random.default_rng(seed)
    marks = {n.name: np.zeros((*n.shape, length), dtype=bool) for n in graph.nodes()}
    for _ in range(DEPENDENCE_ROUNDS):
        base, other = (_random_string(rng, domains, node.shape) for _ in range(2))
        before = node_values(graph, [torch.tensor(base, dtype=DTYPES[node.dtype])])
        for position in range(length):
            changed = base.copy()
            changed[:, position] = other[:, position]
            after = node_values(graph, [torch.tensor(changed, dtype=DTYPES[node.dtype])])
            for key, value in after.items():
                marks[key][..., position] |= _moved(before[key], value).numpy()
    return marks


def _random_string(
    rng: np.random.Generator, domains: Sequence[Sequence[float]], shape: tuple[int, ...]
) -> np.ndarray:
    return np.array([rng.choice(np.asarray(d)) for d in domains]).reshape(shape)


def _moved(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if a.dtype.is_floating_point:
        return (a != b) & ~(torch.isnan(a) & torch.isnan(b))
    return a != b


def sink_position_slices(graph: Graph, domains: Sequence[Sequence[float]]) -> Graph:
    """The graph with position slices sunk as far toward the sequence input as they go."""
    for _ in range(MAX_ROUNDS):
        dependence = position_dependence(graph, domains)
        sunk = rewrite(graph, {Op.SLICE: [_sink_rule(dependence)]}, every_op=[_common])
        if sunk.fingerprint() == graph.fingerprint():
            return sunk
        graph = sunk
    return graph


def _common(graph: Graph, node: Node) -> str | None:
    """op(x, ...) computed again -> the earlier node"""
    if not node.inputs:
        return None
    key = _key(node)
    for user in graph.users(node.inputs[0]):  # in insertion order
        if user == node.name:
            return None
        if _key(graph[user]) == key:
            return user
    return None


def _key(node: Node) -> tuple:
    return (node.op, node.inputs, repr(sorted(node.attrs.items())), node.shape, node.dtype)


# --- the rule ---------------------------------------------------------------------------------

# (graph, slice node, source node, dim, kept indices) → the sliced value built from the source's
# inputs, or None when the slice cannot move through this op
Through = Callable[[Graph, Node, Node, int, range], "str | None"]


def _sink_rule(dependence: Dependence) -> Callable[[Graph, Node], str | None]:
    def sink_slice(graph: Graph, node: Node) -> str | None:
        """slice(op(x, ...)) -> op(slice(x), ...) where the slice picks fewer token positions"""
        source = graph[node.inputs[0]]
        dim, kept = node.attrs["dim"], _kept(node)
        if source.op in ALWAYS:
            return ALWAYS[source.op](graph, node, source, dim, kept)
        through = SELECTIVE.get(source.op) or SELECTIVE.get(OP_TABLE[source.op].category)
        if through is None or not _selective(dependence.get(source.name), dim):
            return None
        return through(graph, node, source, dim, kept)

    return sink_slice


def _kept(node: Node) -> range:
    return range(node.attrs["start"], node.attrs["end"], node.attrs["step"])


def _selective(marks: np.ndarray | None, dim: int) -> bool:
    """Whether the elements along `dim` depend on different token positions (unknown: no): a
    batch of positions computed at once, not one value of one step."""
    if marks is None:
        return False
    rows = np.moveaxis(marks, dim, 0)
    pattern = rows.reshape(rows.shape[0], -1, marks.shape[-1]).any(axis=1)
    return bool((pattern != pattern[:1]).any())


def _slice(graph: Graph, value: str, dim: int, kept: range, like: Node) -> str:
    """value[..., kept, ...] along dim (nothing when it keeps everything)."""
    if kept == range(graph[value].shape[dim]):
        return value
    attrs = {"dim": dim, "start": kept.start, "end": kept.stop, "step": kept.step}
    return graph.add(Op.SLICE, [value], attrs, name=like.name, meta=like.meta)


def _rebuilt(graph: Graph, source: Node, inputs: list[str], like: Node, **attrs: object) -> str:
    return graph.add(source.op, inputs, {**source.attrs, **attrs}, name=like.name, meta=source.meta)


def _resized(shape: tuple[int, ...], dim: int, size: int) -> tuple[int, ...]:
    return (*shape[:dim], size, *shape[dim + 1 :])


# --- through data movement (always) ---------------------------------------------------------


def _through_slice(graph: Graph, node: Node, source: Node, dim: int, kept: range) -> str | None:
    """x[a:b][c:d] along one dim -> x[a + c : ...]"""
    if source.attrs["dim"] != dim:
        return None
    inner = _kept(source)[kept.start : kept.stop : kept.step]
    return _slice(graph, source.inputs[0], dim, inner, node)


def _through_permute(graph: Graph, node: Node, source: Node, dim: int, kept: range) -> str:
    moved = _slice(graph, source.inputs[0], source.attrs["dims"][dim], kept, node)
    return _rebuilt(graph, source, [moved], node)


def _through_expand(graph: Graph, node: Node, source: Node, dim: int, kept: range) -> str:
    x = graph[source.inputs[0]]
    inner = dim - (len(source.shape) - len(x.shape))
    shape = _resized(tuple(source.attrs["shape"]), dim, len(kept))
    value = x.name
    if inner >= 0 and x.shape[inner] != 1:
        value = _slice(graph, x.name, inner, kept, node)
    return _rebuilt(graph, source, [value], node, shape=shape)


def _through_reshape(graph: Graph, node: Node, source: Node, dim: int, kept: range) -> str | None:
    """A reshape keeping the row-major blocks around `dim` slices its input along the matching
    dimension: the same elements before and after, the same prefix and suffix sizes."""
    x = graph[source.inputs[0]].shape
    out = source.shape
    before = math.prod(out[:dim])
    for i, size in enumerate(x):
        if size == out[dim] and math.prod(x[:i]) == before:
            moved = _slice(graph, source.inputs[0], i, kept, node)
            return _rebuilt(graph, source, [moved], node, shape=_resized(out, dim, len(kept)))
    return None


def _through_cat(graph: Graph, node: Node, source: Node, dim: int, kept: range) -> str | None:
    """A slice inside one part of a concatenation along its dimension reads that part alone."""
    if source.attrs["dim"] != dim or kept.step != 1:
        return None
    start = 0
    for part in source.inputs:
        size = graph[part].shape[dim]
        if start <= kept.start and kept.stop <= start + size:
            return _slice(graph, part, dim, range(kept.start - start, kept.stop - start), node)
        start += size
    return None


def _through_const(graph: Graph, node: Node, source: Node, dim: int, kept: range) -> str:
    value = evaluate_node(node, [source.value]).contiguous()
    return graph.add(Op.CONST, value=value, name=node.name, meta=source.meta)


ALWAYS: dict[Op, Through] = {
    Op.SLICE: _through_slice,
    Op.PERMUTE: _through_permute,
    Op.EXPAND: _through_expand,
    Op.RESHAPE: _through_reshape,
    Op.CAT: _through_cat,
    Op.CONST: _through_const,
}

# --- through computations (when position-selective) -----------------------------------------


def _broadcast_input(graph: Graph, value: str, rank: int, dim: int, kept: range, like: Node) -> str:
    """An operand broadcast to `rank` dimensions, sliced where it has the dimension."""
    shape = graph[value].shape
    inner = dim - (rank - len(shape))
    if inner < 0 or shape[inner] == 1:
        return value
    return _slice(graph, value, inner, kept, like)


def _through_elementwise(graph: Graph, node: Node, source: Node, dim: int, kept: range) -> str:
    rank = len(source.shape)
    inputs = [_broadcast_input(graph, i, rank, dim, kept, node) for i in source.inputs]
    return _rebuilt(graph, source, inputs, node)


def _through_matmul(graph: Graph, node: Node, source: Node, dim: int, kept: range) -> str | None:
    """Rows come from the left operand, columns from the right, batches from both."""
    a, b = source.inputs
    rank = len(source.shape)
    if len(graph[a].shape) < 2 or len(graph[b].shape) < 2:
        return None
    if dim == rank - 2:
        a = _slice(graph, a, len(graph[a].shape) - 2, kept, node)
    elif dim == rank - 1:
        b = _slice(graph, b, len(graph[b].shape) - 1, kept, node)
    else:
        a, b = (_broadcast_input(graph, v, rank, dim, kept, node) for v in (a, b))
    return _rebuilt(graph, source, [a, b], node)


def _through_take(graph: Graph, node: Node, source: Node, dim: int, kept: range) -> str:
    """out = x[:t] + idx.shape + x[t+1:]: a slice lands on x's leading or trailing dims or on idx."""
    x, idx = source.inputs
    t, rank = source.attrs["dim"], len(graph[idx].shape)
    if dim < t:
        x = _slice(graph, x, dim, kept, node)
    elif dim < t + rank:
        idx = _slice(graph, idx, dim - t, kept, node)
    else:
        x = _slice(graph, x, dim - rank + 1, kept, node)
    return _rebuilt(graph, source, [x, idx], node)


def _through_reduction(graph: Graph, node: Node, source: Node, dim: int, kept: range) -> str | None:
    reduced = {d % len(graph[source.inputs[0]].shape) for d in source.attrs["dims"]}
    inner = dim
    if not source.attrs["keepdim"]:
        inner = [d for d in range(len(graph[source.inputs[0]].shape)) if d not in reduced][dim]
    if inner in reduced:
        return None
    return _rebuilt(graph, source, [_slice(graph, source.inputs[0], inner, kept, node)], node)


SELECTIVE: dict[object, Through] = {
    "elementwise": _through_elementwise,
    "reduction": _through_reduction,
    Op.MATMUL: _through_matmul,
    Op.TAKE: _through_take,
}
