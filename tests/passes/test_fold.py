"""fold: the expected rewrites, and the interpreter's output unchanged on random graphs."""

from __future__ import annotations

import torch
from helpers import pass_context
from hypothesis import given
from hypothesis import strategies as st
from nnc.frontend import to_graph, trace
from nnc.graph import Graph
from nnc.interpret import interpret
from nnc.ops import Op
from nnc.passes.fold import fold
from nnc.spec_grammar import parse_inputs
from torch import nn


def _graph(model: nn.Module, spec: str) -> Graph:
    specs = parse_inputs([spec])
    return to_graph(trace(model, specs), specs)


def test_linear_weights_arrive_transposed_as_constants() -> None:
    linear = nn.Linear(3, 2)
    graph = _graph(linear, "x:float[3]=0..1")
    # torch evaluates weight.T while tracing (a constant subexpression): no permute is left
    assert not any(n.op is Op.PERMUTE for n in graph.nodes())
    (weight,) = [n for n in graph.nodes() if n.op is Op.CONST and n.shape == (3, 2)]
    torch.testing.assert_close(weight.value, linear.weight.detach().T, rtol=0, atol=0)
    folded = fold(graph, pass_context())
    assert [n.op for n in folded.nodes() if n.op not in (Op.INPUT, Op.CONST)] == [Op.MATMUL, Op.ADD]


def test_a_permuted_constant_folds_into_a_constant() -> None:
    graph = Graph()
    x = graph.add(Op.INPUT, name="x", shape=(1, 3), dtype="float32")
    w = graph.add(Op.CONST, value=torch.arange(6.0).reshape(2, 3), name="w")
    transposed = graph.add(Op.PERMUTE, [w], {"dims": (1, 0)}, name="wt")
    graph.outputs = [graph.add(Op.MATMUL, [x, transposed], name="y")]
    ctx = pass_context()
    folded = fold(graph, ctx)
    assert [n.op for n in folded.nodes()] == [Op.INPUT, Op.CONST, Op.MATMUL]
    (constant,) = [n for n in folded.nodes() if n.op is Op.CONST]
    assert torch.equal(constant.value, torch.arange(6.0).reshape(2, 3).T)
    assert ctx.counts == {"constant_subexpression": 1}
    x_value = torch.tensor([[1.0, -2.0, 0.5]])
    assert torch.equal(interpret(folded, [x_value])[0], interpret(graph, [x_value])[0])


def test_identities_disappear() -> None:
    graph = Graph()
    x = graph.add(Op.INPUT, name="x", shape=(1, 4), dtype="float32")
    same = graph.add(Op.RESHAPE, [x], {"shape": (1, 4)})
    cast = graph.add(Op.CAST, [same], {"dtype": "float32"})
    perm = graph.add(Op.PERMUTE, [cast], {"dims": (0, 1)})
    graph.outputs = [graph.add(Op.TANH, [perm])]
    folded = fold(graph, pass_context())
    assert [n.op for n in folded.nodes()] == [Op.INPUT, Op.TANH]
    assert folded[folded.outputs[0]].inputs == ("x",)


def test_fold_leaves_its_input_untouched() -> None:
    graph = _graph(nn.Sequential(nn.Linear(3, 4), nn.ReLU()), "x:float[3]=0..1")
    before = graph.format()
    fold(graph, pass_context())
    assert graph.format() == before


@given(
    st.integers(1, 6),
    st.integers(1, 6),
    st.sampled_from([nn.ReLU, nn.Tanh, nn.GELU]),
    st.integers(0, 2**31 - 1),
)
def test_fold_preserves_outputs(width: int, depth: int, activation: type, seed: int) -> None:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Linear(3, width)]
    for _ in range(depth - 1):
        layers += [activation(), nn.Linear(width, width)]
    graph = _graph(nn.Sequential(*layers), "x:float[3]=-1..1")
    folded = fold(graph, pass_context())
    x = torch.rand(1, 3) * 2 - 1
    torch.testing.assert_close(interpret(folded, [x])[0], interpret(graph, [x])[0])
