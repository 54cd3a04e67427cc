"""Which matmuls become GEMMs and what their epilogues absorb, on graphs of stock torch.nn models
as the backend receives them (after fold); each plan recomputed from its own weights, bias and
activation equals the interpreter's value of the node it writes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import FLOAT32_ATOL, FLOAT32_RTOL, pass_context
from nnc.backends.fusion import GemmPlan, plan_gemms
from nnc.backends.padding import explicit_padding
from nnc.frontend import to_graph, trace
from nnc.graph import Graph
from nnc.interpret import interpret
from nnc.ops import Op
from nnc.passes.fold import fold
from nnc.spec_grammar import parse_inputs
from torch import nn

ACTIVATIONS = {
    Op.RELU: lambda v: np.maximum(v, 0),
    Op.TANH: np.tanh,
    Op.SIGMOID: lambda v: 1 / (1 + np.exp(-v)),
    None: lambda v: v,
}


def _graph(model: nn.Module, spec: str) -> Graph:
    specs = parse_inputs([spec])
    return fold(to_graph(trace(model.eval(), specs), specs), pass_context())


def _check_against_interpreter(graph: Graph, plan: GemmPlan, x: torch.Tensor) -> None:
    """activation(A @ W + b) from the plan equals the interpreter at the plan's output node."""
    probe = graph.copy()
    left = graph[plan.matmul].inputs[0]
    probe.outputs = [left, plan.output]
    a, expected = (t.double().numpy() for t in interpret(probe, [x]))
    rows = a.reshape(plan.rows, -1)
    got = rows @ plan.weights + (0 if plan.bias is None else plan.bias)
    got = ACTIVATIONS[plan.activation](got)
    np.testing.assert_allclose(
        got.reshape(expected.shape), expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL
    )


def test_an_mlp_is_three_gemms_with_their_bias_and_activation() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1), nn.Sigmoid()
    )
    graph = _graph(model, "x:float[3]=-1..1")
    plans = list(plan_gemms(graph).values())
    assert [p.activation for p in plans] == [Op.RELU, Op.TANH, Op.SIGMOID]
    assert all(p.bias is not None and len(p.absorbed) == 2 for p in plans)
    assert plans[-1].output == graph.outputs[0]
    for plan in plans:
        _check_against_interpreter(graph, plan, torch.rand(1, 3) * 2 - 1)


def test_no_bias() -> None:
    graph = _graph(nn.Linear(4, 5, bias=False), "x:float[4]=0..1")
    (plan,) = plan_gemms(graph).values()
    assert plan.bias is None and plan.activation is None and plan.absorbed == ()
    _check_against_interpreter(graph, plan, torch.rand(1, 4))


class Residual(nn.Module):
    """The linear layer's output is read twice: its epilogue must not swallow the bias add."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.linear(x)
        return torch.relu(h) + h


def test_a_value_read_twice_stays_out_of_the_epilogue() -> None:
    graph = _graph(Residual(), "x:float[6]=-1..1")
    (plan,) = plan_gemms(graph).values()
    assert plan.activation is None
    users = graph.users(plan.output)
    assert len(users) == 2
    _check_against_interpreter(graph, plan, torch.rand(1, 6))


class Tokens(nn.Module):
    """A sequence of embeddings through a linear layer: R = 5 rows per sample."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 8)
        self.linear = nn.Linear(8, 3)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.linear(self.embed(tokens)))


def test_several_rows_per_sample() -> None:
    graph = _graph(Tokens(), "t:int[5]=0..9")
    (plan,) = plan_gemms(graph).values()
    assert plan.rows == 5 and plan.activation is Op.RELU
    _check_against_interpreter(graph, plan, torch.randint(0, 10, (1, 5)))


def test_the_grokking_transformer(grokking_program) -> None:
    """Its Q/K/V/O einsums and MLP are GEMMs; attention's q·kᵀ and pattern·v (no constant
    operand) are not."""
    graph = grokking_program
    plans = plan_gemms(graph)
    matmuls = [n for n in graph.nodes() if n.op is Op.MATMUL]
    constant_right = [n for n in matmuls if graph[n.inputs[1]].op is Op.CONST]
    assert set(plans) == {n.name for n in constant_right}
    assert len(plans) == len(matmuls) - 2
    assert [p.activation for p in plans.values()].count(Op.RELU) == 1


@pytest.fixture(scope="module")
def grokking_program() -> Graph:
    from transformer import GrokkingTransformer

    torch.manual_seed(0)
    return _graph(GrokkingTransformer(), "tokens:int[3]=[a:0..112, b:0..112, 113]")


def test_a_plain_convolution_is_a_gemm_over_implicit_im2col() -> None:
    """Conv2d without padding: a GEMM whose epilogue takes the ReLU; its rows are the output
    positions, its weights the filters as (channels × taps, filters); padded ones are not."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 5, 3, stride=2), nn.ReLU(), nn.Conv2d(5, 3, 3, padding=1))
    graph = _graph(model, "x:float[2,9,9]=-1..1")
    plans = plan_gemms(graph)
    (plan,) = plans.values()
    assert graph[plan.matmul].op is Op.CONV and plan.activation is Op.RELU
    assert plan.rows == 4 * 4 and plan.weights.shape == (2 * 3 * 3, 5)
    assert plan.c_column == plan.rows and len(plan.k_offsets) == 2 * 3 * 3
    weight = model[0].weight.detach().double().numpy()
    np.testing.assert_array_equal(plan.weights, weight.reshape(5, -1).T)


def test_a_padded_convolution_reads_an_explicitly_padded_copy_and_becomes_a_gemm() -> None:
    """explicit_padding: the padded Conv2d above, and one padded on one axis only, read a
    zero-bordered CAT of their input; the graph computes what it computed, and both are GEMMs."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 5, 3, stride=2),
        nn.ReLU(),
        nn.Conv2d(5, 3, 3, padding=1),
        nn.Conv2d(3, 4, (1, 3), padding=(0, 2), dilation=2),
    )
    graph = _graph(model, "x:float[2,9,9]=-1..1")
    padded = explicit_padding(graph)
    convs = [n for n in padded.nodes() if n.op is Op.CONV]
    assert all(not any(n.attrs["padding"]) for n in convs)
    cats = [n for n in padded.nodes() if n.op is Op.CAT]
    assert sorted(n.attrs["dim"] for n in cats) == [2, 3, 3]  # (1, 1): both axes; (0, 2): one
    assert {graph[name].op for name in plan_gemms(padded)} == {Op.CONV}
    assert len(plan_gemms(padded)) == 3
    x = torch.rand(1, 2, 9, 9) * 2 - 1
    (before,), (after,) = interpret(graph, [x]), interpret(padded, [x])
    np.testing.assert_allclose(after, before, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
    unpadded = _graph(nn.Conv2d(2, 5, 3), "x:float[2,9,9]=-1..1")
    assert explicit_padding(unpadded) is unpadded
