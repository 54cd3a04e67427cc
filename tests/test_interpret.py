"""The interpreter, the oracle of every other test: op references, closed forms, input checks."""

from __future__ import annotations

import pytest
import sympy
import torch
from nnc.errors import InputError
from nnc.graph import Graph
from nnc.interpret import evaluate_node, interpret
from nnc.ops import Op


def _two_inputs() -> Graph:
    """out0 = x @ w + y, out1 = tanh(x): two inputs, two outputs."""
    graph = Graph()
    x = graph.add(Op.INPUT, name="x", shape=(1, 2), dtype="float32")
    y = graph.add(Op.INPUT, name="y", shape=(1, 3), dtype="float64")
    w = graph.add(Op.CONST, value=torch.arange(6, dtype=torch.float32).reshape(2, 3), name="w")
    total = graph.add(Op.ADD, [graph.add(Op.MATMUL, [x, w]), y], name="total")
    graph.outputs = [total, graph.add(Op.TANH, [x], name="squashed")]
    return graph


def test_runs_every_node_and_returns_the_outputs_in_order() -> None:
    x = torch.tensor([[1.0, -2.0]])
    y = torch.tensor([[0.5, 0.25, 0.125]], dtype=torch.float64)
    total, squashed = interpret(_two_inputs(), [x, y])
    w = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    torch.testing.assert_close(total, (x @ w).double() + y, rtol=0, atol=0)
    torch.testing.assert_close(squashed, torch.tanh(x), rtol=0, atol=0)
    assert total.dtype == torch.float64  # float32 @ + float64 promotes as torch does


def test_inputs_are_cast_to_the_graph_dtype() -> None:
    x = torch.tensor([[1, 2]])  # int64 given, the graph takes float32
    total, _ = interpret(_two_inputs(), [x, torch.zeros(1, 3)])
    assert total.dtype == torch.float64 and total.tolist() == [[6.0, 9.0, 12.0]]


def test_wrong_number_of_inputs_is_an_input_error() -> None:
    with pytest.raises(InputError, match="the graph takes 2 inputs, got 1"):
        interpret(_two_inputs(), [torch.zeros(1, 2)])


def test_wrong_shape_names_the_input() -> None:
    with pytest.raises(InputError, match=r"input 'y' has shape \(1, 2\), the graph takes \(1, 3\)"):
        interpret(_two_inputs(), [torch.zeros(1, 2), torch.zeros(1, 2)])


def test_closed_forms_evaluate_their_expression_and_table() -> None:
    a, b = sympy.symbols("a b", integer=True)
    graph = Graph()
    tokens = graph.add(Op.INPUT, name="tokens", shape=(1, 2), dtype="int64")
    attrs = {
        "expr": sympy.Mod(a + b, 7),
        "bindings": (("a", 0, 0), ("b", 0, 1)),
        "shape": (1,),
        "dtype": "int64",
    }
    expr = graph.add(Op.EXPR, [tokens], attrs, name="modadd")
    table = {
        "table": torch.tensor([10, 11, 12, 13]),
        "axes": (("a", 0, 0, (0.0, 1.0)), ("b", 0, 1, (0.0, 1.0))),
        "shape": (1,),
        "dtype": "int64",
    }
    looked_up = graph.add(Op.TABLE, [tokens], table, name="lookup")
    graph.outputs = [expr, looked_up]
    cases = {(0, 0): (0, 10), (0, 1): (1, 11), (1, 0): (1, 12), (1, 1): (2, 13)}  # a slow axis
    for (a_value, b_value), expected in cases.items():
        modadd, lookup = interpret(graph, [torch.tensor([[a_value, b_value]])])
        assert (modadd.item(), lookup.item()) == expected
    graph.outputs = [expr]
    graph.remove(looked_up)  # the interpreter runs every node, the table too
    assert interpret(graph, [torch.tensor([[5, 4]])])[0].tolist() == [2]


def test_a_table_never_guesses_outside_its_domain() -> None:
    graph = Graph()
    x = graph.add(Op.INPUT, name="x", shape=(1, 1), dtype="int64")
    attrs = {
        "table": torch.tensor([3, 4]),
        "axes": (("a", 0, 0, (0.0, 1.0)),),
        "shape": (1,),
        "dtype": "int64",
    }
    graph.outputs = [graph.add(Op.TABLE, [x], attrs)]
    with pytest.raises(ValueError, match="table axis a got a value outside its domain"):
        interpret(graph, [torch.tensor([[2]])])


def test_evaluate_node_uses_the_op_reference() -> None:
    graph = Graph()
    x = graph.add(Op.INPUT, name="x", shape=(1, 3, 2), dtype="float32")
    node = graph[graph.add(Op.PERMUTE, [x], {"dims": (0, 2, 1)})]
    value = torch.arange(6.0).reshape(1, 3, 2)
    assert torch.equal(evaluate_node(node, [value]), value.permute(0, 2, 1))
