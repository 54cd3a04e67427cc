"""The one rewrite driver: rule tables to a fixed point, dead code removed, the input untouched,
and a named internal error when two rules undo each other."""

from __future__ import annotations

import pytest
import sympy
import torch
from nnc.errors import InternalError
from nnc.graph import Graph, Node
from nnc.interpret import interpret
from nnc.ops import Op
from nnc.rewrite import exprs_as_output, remove_dead, rewrite


def double_negation(graph: Graph, node: Node) -> str | None:
    """neg(neg(x)) -> x"""
    inner = graph[node.inputs[0]]
    return inner.inputs[0] if inner.op is Op.NEG else None


def _negations(count: int) -> Graph:
    graph = Graph()
    value = graph.add(Op.INPUT, name="x", shape=(1, 3), dtype="float64")
    for _ in range(count):
        value = graph.add(Op.NEG, [value])
    graph.outputs = [graph.add(Op.TANH, [value], name="y")]
    return graph


def test_rules_fire_to_a_fixed_point_and_dead_nodes_go() -> None:
    fired: list[str] = []
    graph = _negations(5)
    result = rewrite(graph, {Op.NEG: [double_negation]}, on_fire=fired.append)
    assert [n.op for n in result.nodes()] == [Op.INPUT, Op.NEG, Op.TANH]
    assert fired == ["double_negation", "double_negation"]
    x = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64)
    assert torch.equal(interpret(result, [x])[0], interpret(graph, [x])[0])
    assert len(graph) == 7  # the input graph is left as it was


def test_rules_for_every_op_run_after_the_op_table() -> None:
    seen: list[Op] = []

    def watch(graph: Graph, node: Node) -> str | None:
        seen.append(node.op)
        return None

    rewrite(_negations(1), {}, every_op=[watch])
    assert seen == [Op.NEG, Op.TANH]  # inputs are never rewritten


def test_rules_that_undo_each_other_stop_with_their_names() -> None:
    def neg_to_double(graph: Graph, node: Node) -> str | None:
        """neg(x) -> neg(neg(neg(x))): never done."""
        return graph.add(Op.NEG, [graph.add(Op.NEG, [graph.add(Op.NEG, list(node.inputs))])])

    with pytest.raises(
        InternalError,
        match=r"did not converge after 3 sweeps; last rules fired: "
        r"\[.*'neg_to_double'\]",
    ) as caught:
        rewrite(_negations(1), {Op.NEG: [double_negation, neg_to_double]}, max_sweeps=3)
    assert "undo each other" in caught.value.hint


def test_remove_dead_keeps_inputs_and_counts_what_it_removed() -> None:
    graph = _negations(1)
    unused = graph.add(Op.INPUT, name="unused", shape=(1,), dtype="float64")
    graph.add(Op.EXP, [graph.add(Op.SIN, [unused])])
    assert remove_dead(graph) == 2
    assert graph.inputs == ["x", "unused"] and len(graph) == 4


def test_exprs_as_output_keeps_the_faithful_value_where_no_expression_is_given() -> None:
    graph = Graph()
    x = graph.add(Op.INPUT, name="x", shape=(1, 2), dtype="float64")
    graph.outputs = [
        graph.add(Op.MUL, [x, graph.add(Op.CONST, value=torch.tensor(3.0, dtype=torch.float64))])
    ]
    x0 = sympy.Symbol("x0")
    out = exprs_as_output(graph, [x0 * 3, None], (("x0", 0, 0), ("x1", 0, 1)), prefix="law")
    ops = [n.op for n in out.nodes()]
    assert ops.count(Op.EXPR) == 1 and Op.SLICE in ops and out[out.outputs[0]].op is Op.CAT
    assert out["law0"].attrs["bindings"] == (("x0", 0, 0),)  # only the symbols it uses
    value = torch.tensor([[1.5, -2.0]], dtype=torch.float64)
    assert torch.equal(interpret(out, [value])[0], interpret(graph, [value])[0])
