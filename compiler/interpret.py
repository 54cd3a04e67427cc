"""Reference evaluator: runs any Graph on torch tensors through the op table; the oracle for tests."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .errors import InputError
from .graph import Graph, Node
from .ops import DTYPES, OP_TABLE, Op

__all__ = ["evaluate_node", "interpret", "node_values"]


def evaluate_node(node: Node, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
    """The value of one non-source node given its input values."""
    reference = OP_TABLE[node.op].reference
    assert reference is not None, f"%{node.name} is a source node"
    return reference(list(inputs), node.attrs)


def interpret(graph: Graph, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Evaluate the graph on one value per graph input (shapes as traced, batch dimension 1)."""
    env = node_values(graph, inputs)
    return [env[name] for name in graph.outputs]


def node_values(graph: Graph, inputs: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
    """The value of every node of the graph on these inputs (analyses that watch values flow)."""
    if len(inputs) != len(graph.inputs):
        raise InputError(f"the graph takes {len(graph.inputs)} inputs, got {len(inputs)}")
    env: dict[str, torch.Tensor] = {}
    for name, value in zip(graph.inputs, inputs):
        node = graph[name]
        tensor = torch.as_tensor(value).to(DTYPES[node.dtype])
        if tuple(tensor.shape) != node.shape:
            raise InputError(
                f"input {name!r} has shape {tuple(tensor.shape)}, the graph takes {node.shape}"
            )
        env[name] = tensor
    for node in graph.nodes():
        if node.op is Op.CONST:
            env[node.name] = node.value
        elif node.op is not Op.INPUT:
            env[node.name] = evaluate_node(node, [env[i] for i in node.inputs])
    return env
