"""Structural invariants of a Graph, checked after every pass; a failure is a bug in the pass."""

from __future__ import annotations

from .errors import GraphInvariantError
from .graph import Graph, infer_meta
from .ops import OP_TABLE, Op

__all__ = ["verify_graph"]


def verify_graph(graph: Graph, after: str = "front end") -> None:
    """Raise GraphInvariantError naming the node and `after` (the last pass) on the first problem."""

    def fail(message: str) -> GraphInvariantError:
        return GraphInvariantError(
            f"{message} (after {after})",
            hint="this is a bug in nnc; please report it with the output of `nnc inspect` on the model",
        )

    if not graph.is_acyclic():
        raise fail("the graph has a cycle")
    if not graph.outputs:
        raise fail("the graph has no outputs")
    for name in graph.outputs:
        if name not in graph:
            raise fail(f"output %{name} does not exist")
    live = graph.ancestors(graph.outputs)
    for node in graph.nodes():
        info = OP_TABLE[node.op]
        if info.arity is not None and len(node.inputs) != info.arity:
            raise fail(
                f"%{node.name}: {node.op.value} takes {info.arity} inputs, has {len(node.inputs)}"
            )
        if node.op is Op.CONST:
            if node.value is None or tuple(node.value.shape) != node.shape:
                raise fail(f"%{node.name}: constant value does not match its shape {node.shape}")
            if node.name not in live:
                raise fail(f"%{node.name}: constant that no output uses")
        elif node.op is not Op.INPUT:
            expected = infer_meta(node.op, [graph[i] for i in node.inputs], node.attrs)
            if expected != (node.shape, node.dtype):
                raise fail(
                    f"%{node.name}: recorded {node.dtype}{list(node.shape)}, its op gives "
                    f"{expected[1]}{list(expected[0])}"
                )
