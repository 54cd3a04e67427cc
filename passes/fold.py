"""fold: exact local rewrites — evaluate constant subexpressions, drop identities and dead nodes.

%w2 : f32[4, 3] = permute(%w, dims=(1, 0))      →   %w2 : f32[4, 3] = const(12 values)
%r  : f32[1, 3] = reshape(%x, shape=(1, 3))     →   (uses of %r read %x)
"""

from __future__ import annotations

from nnc.graph import Graph, Node
from nnc.interpret import evaluate_node
from nnc.ops import Op
from nnc.pipeline import PassContext, register_pass
from nnc.rewrite import rewrite

__all__ = ["fold"]

# A folded constant may grow past its inputs (e.g. an expanded bias) up to this many elements.
MAX_FOLDED_GROWTH = 1 << 16


def constant_subexpression(graph: Graph, node: Node) -> str | None:
    """op(const, ...) -> const, unless the result is much larger than its inputs."""
    if node.op is Op.CONST or not node.inputs:
        return None
    sources = [graph[i] for i in node.inputs]
    if any(s.op is not Op.CONST for s in sources):
        return None
    if node.numel > max(MAX_FOLDED_GROWTH, sum(s.numel for s in sources)):
        return None
    value = evaluate_node(node, [s.value for s in sources])
    return graph.add(Op.CONST, value=value.contiguous(), name=node.name + "_c", meta=node.meta)


def same_shape(graph: Graph, node: Node) -> str | None:
    """reshape/expand to the shape it already has -> its input"""
    return node.inputs[0] if graph[node.inputs[0]].shape == node.shape else None


def reshape_of_reshape(graph: Graph, node: Node) -> str | None:
    """reshape(reshape(x)) -> reshape(x)"""
    source = graph[node.inputs[0]]
    if source.op is not Op.RESHAPE:
        return None
    return graph.add(Op.RESHAPE, source.inputs, node.attrs, name=node.name, meta=node.meta)


def identity_permute(graph: Graph, node: Node) -> str | None:
    """permute(x, (0, 1, ..)) -> x"""
    return node.inputs[0] if tuple(node.attrs["dims"]) == tuple(range(len(node.shape))) else None


def same_dtype_cast(graph: Graph, node: Node) -> str | None:
    """cast(x, dtype of x) -> x"""
    return node.inputs[0] if graph[node.inputs[0]].dtype == node.dtype else None


def whole_slice(graph: Graph, node: Node) -> str | None:
    """x[0:len:1] -> x"""
    return node.inputs[0] if graph[node.inputs[0]].shape == node.shape else None


def single_cat(graph: Graph, node: Node) -> str | None:
    """cat([x]) -> x"""
    return node.inputs[0] if len(node.inputs) == 1 else None


RULES = {
    Op.RESHAPE: [same_shape, reshape_of_reshape],
    Op.EXPAND: [same_shape],
    Op.PERMUTE: [identity_permute],
    Op.CAST: [same_dtype_cast],
    Op.SLICE: [whole_slice],
    Op.CAT: [single_cat],
}


@register_pass("fold", exact=True)
def fold(graph: Graph, ctx: PassContext) -> Graph:
    """Evaluate constant subexpressions and remove identity ops and dead nodes (exact)."""
    return rewrite(graph, RULES, every_op=[constant_subexpression], on_fire=ctx.count)
