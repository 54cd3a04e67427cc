"""The front end, one lowering rule at a time: which core ops each ATen op becomes, that the
interpreter then computes what torch computes, and the errors for what nnc cannot take."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from helpers import AMPLIFYING_RTOL, FLOAT32_ATOL, FLOAT32_RTOL, domain_points, network_output
from nnc.errors import InputError, UnsupportedOpError
from nnc.frontend import to_graph, trace
from nnc.graph import Graph
from nnc.interpret import interpret
from nnc.ops import Op
from nnc.spec_grammar import parse_inputs
from torch import nn


class Fn(nn.Module):
    """A module around a function of its input."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def _graph(model: nn.Module, spec: str) -> Graph:
    specs = parse_inputs([spec])
    return to_graph(trace(model, specs), specs)


def _computing_ops(graph: Graph) -> Counter[Op]:
    """The ops that compute something, with multiplicity (inputs, constants and dead nodes left
    out: the front end may leave an unused result of a multi-output op, fold removes it)."""
    live = graph.ancestors(graph.outputs)
    return Counter(
        n.op for n in graph.nodes() if n.name in live and n.op not in (Op.INPUT, Op.CONST)
    )


V = "x:float[4]=-2..2"
P = "x:float[4]=0.5..3"
M = "x:float[3,4]=-1..1"

# rule → (model, spec, the core ops it lowers to)
RULES: dict[str, tuple[Callable[[], nn.Module], str, dict[Op, int]]] = {
    "addmm (nn.Linear)": (lambda: nn.Linear(4, 2), V, {Op.MATMUL: 1, Op.ADD: 1}),
    "add with alpha": (lambda: Fn(lambda x: x.add(x, alpha=2)), V, {Op.MUL: 1, Op.ADD: 1}),
    "rsub": (lambda: Fn(lambda x: 1 - x), V, {Op.SUB: 1}),
    "div": (lambda: Fn(lambda x: x / 3), V, {Op.DIV: 1}),
    "pow": (lambda: Fn(lambda x: x**3), V, {Op.POW: 1}),
    "clamp both ends": (lambda: Fn(lambda x: x.clamp(-1, 1)), V, {Op.MAXIMUM: 1, Op.MINIMUM: 1}),
    "clamp_min": (lambda: Fn(lambda x: x.clamp(min=0.5)), V, {Op.MAXIMUM: 1}),
    "hardtanh": (lambda: nn.Hardtanh(), V, {Op.MAXIMUM: 1, Op.MINIMUM: 1}),
    "relu": (lambda: nn.ReLU(), V, {Op.RELU: 1}),
    "leaky_relu": (lambda: nn.LeakyReLU(0.2), V, {Op.GT: 1, Op.MUL: 1, Op.WHERE: 1}),
    "gelu (erf)": (lambda: nn.GELU(), V, {Op.MUL: 3, Op.ERF: 1, Op.ADD: 1}),
    "gelu (tanh)": (lambda: nn.GELU(approximate="tanh"), V, {Op.MUL: 6, Op.ADD: 2, Op.TANH: 1}),
    "sigmoid": (lambda: nn.Sigmoid(), V, {Op.SIGMOID: 1}),
    "log1p": (lambda: Fn(torch.log1p), P, {Op.LOG1P: 1}),
    "rsqrt": (lambda: Fn(torch.rsqrt), P, {Op.RSQRT: 1}),
    "softmax": (
        lambda: nn.Softmax(-1),
        M,
        {Op.AMAX: 1, Op.SUB: 1, Op.EXP: 1, Op.SUM: 1, Op.DIV: 1},
    ),
    "log_softmax": (
        lambda: nn.LogSoftmax(-1),
        M,
        {Op.AMAX: 1, Op.SUB: 2, Op.EXP: 1, Op.SUM: 1, Op.LOG: 1},
    ),
    "layer_norm": (
        lambda: nn.LayerNorm(4),
        M,
        {Op.SUM: 2, Op.DIV: 2, Op.SUB: 1, Op.MUL: 3, Op.ADD: 2, Op.RSQRT: 1},
    ),
    "batch_norm in eval: a scale and a shift": (
        lambda: nn.BatchNorm1d(4).eval(),
        V,
        {Op.MUL: 1, Op.ADD: 1},
    ),
    "mean": (lambda: Fn(lambda x: x.mean(-1)), M, {Op.SUM: 1, Op.DIV: 1}),
    "max over a dim": (lambda: Fn(lambda x: x.max(-1).values), M, {Op.AMAX: 1}),
    "argmax of everything": (lambda: Fn(lambda x: x.argmax()), M, {Op.RESHAPE: 1, Op.ARGMAX: 1}),
    "transpose": (lambda: Fn(lambda x: x.transpose(1, 2)), M, {Op.PERMUTE: 1}),
    "select": (lambda: Fn(lambda x: x[:, 1]), M, {Op.SLICE: 1, Op.RESHAPE: 1}),
    "slice with a step": (lambda: Fn(lambda x: x[:, ::2]), V, {Op.SLICE: 1}),
    "flip": (lambda: Fn(lambda x: x.flip(-1)), V, {Op.TAKE: 1}),
    "index with one tensor": (lambda: Fn(lambda x: x[:, torch.tensor([3, 0])]), V, {Op.TAKE: 1}),
    "cat": (lambda: Fn(lambda x: torch.cat([x, -x], -1)), V, {Op.NEG: 1, Op.CAT: 1}),
    "expand": (
        lambda: Fn(lambda x: x[:, None, :].expand(1, 3, 4)),
        V,
        {Op.RESHAPE: 1, Op.EXPAND: 1},
    ),
    "to(float64) is a cast": (lambda: Fn(lambda x: x.to(torch.float64)), V, {Op.CAST: 1}),
    "masked_fill": (lambda: Fn(lambda x: x.masked_fill(x < 0, 0.0)), V, {Op.LT: 1, Op.WHERE: 1}),
    "constant subexpression folded while tracing": (
        lambda: Fn(lambda x: x + torch.arange(4).float() * 2),
        V,
        {Op.ADD: 1},
    ),
    "one_hot": (
        lambda: Fn(lambda t: F.one_hot(t, 5).float()),
        "t:int[2]=0..4",
        {Op.RESHAPE: 1, Op.EQ: 1, Op.CAST: 2},
    ),
    "convolution with bias: one op": (lambda: nn.Conv1d(3, 2, 2), M, {Op.CONV: 1}),
    "max_pool: one op (indices unused; 1-d runs as 2-d)": (
        lambda: nn.MaxPool1d(2),
        M,
        {Op.RESHAPE: 2, Op.POOL: 1},
    ),
    "adaptive avg pool, uneven: a matrix": (
        lambda: nn.AdaptiveAvgPool1d(3),
        M,
        {Op.RESHAPE: 2, Op.MATMUL: 1},
    ),
    "remainder": (lambda: Fn(lambda t: t % 3), "t:int[2]=-9..9", {Op.MOD: 1}),
    "floor division": (lambda: Fn(lambda x: x // 0.5), V, {Op.DIV_ROUNDED: 1}),
    "div with rounding_mode": (
        lambda: Fn(lambda x: torch.div(x, 2, rounding_mode="trunc")),
        V,
        {Op.DIV_ROUNDED: 1},
    ),
    "fmod": (lambda: Fn(lambda t: torch.fmod(t, -4)), "t:int[2]=-9..9", {Op.MOD: 1}),
    "bitwise and of integers": (lambda: Fn(lambda t: t & 6), "t:int[2]=0..9", {Op.BITWISE: 1}),
    "bitwise not of integers: -1 - t": (lambda: Fn(lambda t: ~t), "t:int[2]=0..9", {Op.SUB: 1}),
    "shift": (lambda: Fn(lambda t: t << 2), "t:int[2]=-9..9", {Op.BITWISE: 1}),
    "split": (lambda: Fn(lambda x: x.split([1, 3], -1)[1]), V, {Op.SLICE: 1}),
    "any": (lambda: Fn(lambda x: (x > 0).any(-1)), M, {Op.GT: 1, Op.CAST: 2, Op.AMAX: 1}),
    "full_like: a constant": (lambda: Fn(lambda x: x + torch.full_like(x, 2.0)), V, {Op.ADD: 1}),
    "cumsum: a triangular matrix": (lambda: Fn(lambda x: x.cumsum(-1)), V, {Op.MATMUL: 1}),
    "gather": (
        lambda: Fn(lambda x: torch.gather(x, 1, torch.tensor([[2, 0, 0]]))),
        V,
        {Op.RESHAPE: 1, Op.TAKE: 1},
    ),
    "index with two constant tensors: one TAKE": (
        lambda: Fn(lambda x: x[:, torch.tensor([0, 1]), torch.tensor([3, 3])]),
        M,
        {Op.RESHAPE: 1, Op.TAKE: 1},
    ),
    "assignment into a slice": (
        lambda: Fn(_assign_columns),
        V,
        {Op.SLICE: 1, Op.MUL: 1, Op.TAKE: 1, Op.RESHAPE: 3, Op.WHERE: 1},
    ),
    "variance": (lambda: Fn(lambda x: x.var(-1)), M, {Op.SUM: 2, Op.DIV: 2, Op.SUB: 1, Op.MUL: 1}),
    "2-norm": (
        lambda: Fn(lambda x: x.norm(dim=-1)),
        M,
        {Op.ABS: 1, Op.MUL: 1, Op.SUM: 1, Op.SQRT: 1},
    ),
    "elu": (
        lambda: nn.ELU(0.5),
        V,
        {Op.MUL: 2, Op.EXP: 1, Op.SUB: 1, Op.GT: 1, Op.WHERE: 1},
    ),
}


def _assign_columns(x: torch.Tensor) -> torch.Tensor:
    y = x.clone()
    y[:, 1:3] = x[:, :2] * 2
    return y


TOLERANCE = {"layer_norm": AMPLIFYING_RTOL}  # the variance of four numbers amplifies rounding


@pytest.mark.parametrize("rule", sorted(RULES))
def test_lowering_rule(rule: str) -> None:
    build, spec, expected = RULES[rule]
    torch.manual_seed(0)
    model = build()
    graph = _graph(model, spec)
    assert _computing_ops(graph) == Counter(expected)
    (points,) = domain_points([spec], n=4)
    rtol = TOLERANCE.get(rule, FLOAT32_RTOL)
    for row in points:
        (value,) = interpret(graph, [torch.from_numpy(row)[None]])
        expected_value = network_output(model, row[None])
        torch.testing.assert_close(
            value.double().numpy(), expected_value, rtol=rtol, atol=FLOAT32_ATOL
        )


def test_nodes_remember_their_module_and_source_line() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.hidden = nn.Linear(2, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.hidden(x))

    graph = _graph(Net(), "x:float[2]=0..1")
    (tanh,) = [n for n in graph.nodes() if n.op is Op.TANH]
    assert tanh.meta["source"].startswith("test_frontend.py:")
    assert tanh.meta["module"] == ""  # the top module computed it
    (matmul,) = [n for n in graph.nodes() if n.op is Op.MATMUL]
    assert matmul.meta["module"] == "hidden"


def test_input_nodes_carry_the_spec_name_and_the_batch_dimension() -> None:
    graph = _graph(nn.Linear(3, 1).double(), "velocity:double[3]=0..1")
    assert graph.inputs == ["velocity"]
    node = graph["velocity"]
    assert (node.shape, node.dtype, node.attrs) == ((1, 3), "float64", {"spec": "velocity"})


def test_indexing_two_dimensions_by_the_input_is_refused() -> None:
    def pick(x: torch.Tensor) -> torch.Tensor:
        index = (x[:, 0, :2] > 0).long().reshape(-1)
        return x[:, index, index]

    with pytest.raises(
        UnsupportedOpError, match=r"several index tensors.*\(aten\.index\)"
    ) as caught:
        _graph(Fn(pick), M)
    assert "index one dimension at a time" in caught.value.hint


def test_two_outputs_are_an_input_error() -> None:
    with pytest.raises(InputError, match="returns 2 values") as caught:
        _graph(Fn(lambda x: (x, -x)), V)
    assert "single tensor" in caught.value.hint


def test_nan_weights_are_named() -> None:
    model = nn.Linear(4, 1)
    with torch.no_grad():
        model.weight[0, 2] = float("nan")
    with pytest.raises(InputError, match=r"weight 'weight' holds 1 NaN/Inf value"):
        _graph(model, V)


def test_a_spec_that_does_not_fit_forward_is_an_input_error_with_the_shapes() -> None:
    with pytest.raises(InputError, match=r"torch\.export could not trace .* \[\(1, 5\)\]"):
        _graph(nn.Linear(4, 1), "x:float[5]=0..1")
