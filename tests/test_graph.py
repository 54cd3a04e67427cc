"""The IR: deterministic printing, invariants caught by verify, names kept unique."""

from __future__ import annotations

import dataclasses

import pytest
import sympy
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


def test_closed_forms_print_their_formula_and_table_size() -> None:
    graph = Graph()
    x = graph.add(Op.INPUT, name="tokens", shape=(1, 2), dtype="int64")
    a, b = sympy.symbols("a b", integer=True)
    attrs = {
        "expr": sympy.Mod(a + b, 113),
        "bindings": (("a", 0, 0), ("b", 0, 1)),
        "shape": (1,),
        "dtype": "int64",
    }
    table = {"table": torch.arange(4), "axes": (), "shape": (1,), "dtype": "int64"}
    assert graph[graph.add(Op.EXPR, [x], attrs, name="y")].format() == (
        "%y : i64[1] = expr(%tokens)  ⟨(a + b) mod 113⟩"
    )
    assert graph[graph.add(Op.TABLE, [x], table, name="t")].format() == (
        "%t : i64[1] = table(%tokens, 4 entries)"
    )
    scalar = graph.add(Op.CONST, value=torch.tensor(2.5, dtype=torch.float64), name="half")
    assert graph[scalar].format() == "%half : f64[] = const(2.5)"


def test_fingerprint_sees_constant_values_the_printout_hides() -> None:
    graph, other = _small(), _small()
    other.replace("w", dataclasses.replace(other["w"], value=torch.full((2, 3), 2.0)))
    assert graph.format() == other.format()  # six values print as "6 values" either way
    assert graph.fingerprint() != other.fingerprint()


def test_replace_uses_rewires_users_and_outputs() -> None:
    graph = _small()
    graph.replace_uses("y", "x")  # relu now reads x directly; y is unused
    assert graph["y_1"].inputs == ("x",) and graph.users("y") == []
    graph.replace_uses("y_1", "y")
    assert graph.outputs == ["y"]
    graph.remove("y_1")
    assert [n.name for n in graph.nodes()] == ["x", "w", "y"]


def test_nodes_in_use_cannot_be_removed_nor_names_reused() -> None:
    graph = _small()
    with pytest.raises(GraphInvariantError, match="cannot remove %y: it is still used"):
        graph.remove("y")
    with pytest.raises(GraphInvariantError, match="cannot remove %y_1: it is still used"):
        graph.remove("y_1")  # an output
    with pytest.raises(GraphInvariantError, match="node %w already exists"):
        graph.add_node(graph["w"])
    with pytest.raises(GraphInvariantError, match="reads %nowhere, which does not exist"):
        graph.add(Op.RELU, ["nowhere"], shape=(1,), dtype="float32")


def test_names_are_made_unique_and_identifier_safe() -> None:
    graph = _small()
    assert graph.add(Op.RELU, ["x"], name="y") == "y_2"
    assert graph.add(Op.RELU, ["x"], name="layer.0/out") == "layer_0_out"


def test_copies_are_independent_and_order_is_kept() -> None:
    graph = _small()
    copy = graph.copy()
    copy.outputs = [copy.add(Op.TANH, ["y_1"], name="extra")]
    assert "extra" not in graph and graph.outputs == ["y_1"]
    assert [n.name for n in copy.nodes()] == ["x", "w", "y", "y_1", "extra"]
    assert copy.ancestors(["y"]) == {"x", "w", "y"}
    assert graph.parameter_count() == 6
