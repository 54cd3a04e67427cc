"""The IR: deterministic printing, invariants caught by verify, names kept unique."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from nnc.errors import GraphInvariantError
from nnc.graph import Graph
from nnc.ops import Op
from nnc.verify import verify_graph


def _small() -> Graph:
    graph = Graph()
    x = graph.add(Op.INPUT, name="x", shape=(1, 2), dtype="float32")
    w = graph.add(Op.CONST, value=torch.ones(2, 3), name="w")
    y = graph.add(Op.MATMUL, [x, w], name="y")
    graph.outputs = [graph.add(Op.RELU, [y], name="y")]
    return graph


def test_printer_is_fx_style_and_deterministic() -> None:
    text = _small().format()
    assert text == (
        "%x : f32[1, 2] = input()\n"
        "%w : f32[2, 3] = const(6 values)\n"
        "%y : f32[1, 3] = matmul(%x, %w)\n"
        "%y_1 : f32[1, 3] = relu(%y)\n"
        "return %y_1"
    )
    assert _small().fingerprint() == _small().fingerprint()


def test_verify_names_the_node_and_the_pass() -> None:
    graph = _small()
    verify_graph(graph)
    wrong = dataclasses.replace(graph["y_1"], shape=(1, 4))
    graph.replace("y_1", wrong)
    with pytest.raises(
        GraphInvariantError, match=r"%y_1: recorded float32\[1, 4\].*after pass fold"
    ):
        verify_graph(graph, after="pass fold")


def test_verify_rejects_unused_constants_and_missing_outputs() -> None:
    graph = _small()
    graph.add(Op.CONST, value=torch.zeros(2), name="orphan")
    with pytest.raises(GraphInvariantError, match="orphan"):
        verify_graph(graph)
    graph = _small()
    graph.outputs = ["nowhere"]
    with pytest.raises(GraphInvariantError, match="does not exist"):
        verify_graph(graph)


def test_shapes_are_inferred_from_the_op_table() -> None:
    graph = _small()
    s = graph.add(Op.SUM, ["y_1"], {"dims": (1,), "keepdim": True})
    assert graph[s].shape == (1, 1) and graph[s].dtype == "float32"
    c = graph.add(Op.GT, [s, graph.add(Op.CONST, value=torch.tensor(0.5))])
    assert graph[c].dtype == "bool"
