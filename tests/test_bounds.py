"""bounds: every value sampled on the domain lies inside its node's interval, per op and on
traced networks; the intervals are exact where the rules say so; the pass only writes meta."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest
import torch
from helpers import FLOAT32_ATOL, FLOAT32_RTOL, pass_context
from hypothesis import given, settings
from hypothesis import strategies as st
from nnc.bounds import node_bounds
from nnc.domain import Domain
from nnc.errors import InputError
from nnc.frontend import to_graph, trace
from nnc.graph import Graph
from nnc.interpret import interpret
from nnc.ops import Op
from nnc.passes.fold import fold
from nnc.spec import InputSpec
from nnc.spec_grammar import parse_inputs
from torch import nn

# The op graphs compute in float64 like the bounds: only rounding of the bounds themselves.
DOUBLE_SLACK = 1e-9


def _values(graph: Graph, points: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every node's value at every point: (n, *node shape), the batch-1 interpreter vmapped."""
    every = graph.copy()
    every.outputs = [n.name for n in graph.nodes()]
    run = torch.func.vmap(lambda *xs: tuple(interpret(every, list(xs))))
    return dict(zip(every.outputs, run(*points)))


def _points(specs: list[InputSpec], n: int, seed: int) -> list[torch.Tensor]:
    """n random points of the domain plus every corner of its box: (n, 1, *shape) per input."""
    arrays = [torch.from_numpy(np.asarray(a)) for a in Domain(specs).points(10**4, n, seed)[0]]
    spec = specs[0]
    if spec.calibration is None and not spec.integer:
        corners = torch.tensor(
            list(itertools.product(*zip(*spec.bounds()))),
            dtype=torch.float64,
        )
        arrays[0] = torch.cat([arrays[0], corners.reshape(-1, *spec.shape).to(arrays[0].dtype)])
    return [a.unsqueeze(1) for a in arrays]


def assert_inside(
    graph: Graph, specs: list[InputSpec], slack: tuple[float, float], n: int = 200, seed: int = 0
) -> None:
    """Every node's value at domain points lies in [lo - slack, hi + slack] (NaN excepted)."""
    found = node_bounds(graph, specs)
    rtol, atol = slack
    for name, value in _values(graph, _points(specs, n, seed)).items():
        lo, hi = found[name]
        value = value.double()
        above = (value >= lo) | (value >= lo - atol - rtol * lo.abs())
        below = (value <= hi) | (value <= hi + atol + rtol * hi.abs())
        bad = ~(value.isnan() | (above & below))
        assert not bad.any(), (
            f"%{name} = {value[bad][:3].tolist()} outside [{lo.tolist()}, {hi.tolist()}]"
        )


# --- one op at a time, on u = x[0], v = x[1] --------------------------------------------------


def _const(g: Graph, value: float | list) -> str:
    return g.add(Op.CONST, value=torch.tensor(value, dtype=torch.float64))


def _int(g: Graph, value: int) -> str:
    return g.add(Op.CONST, value=torch.tensor(value))


Build = Callable[[Graph, str, str, str], str]  # (graph, x, u, v) → the node under test


def _of_u(op: Op) -> Build:
    return lambda g, x, u, v: g.add(op, [u])


def _of_u_v(op: Op) -> Build:
    return lambda g, x, u, v: g.add(op, [u, v])


def _of_u_v_with(op: Op, **attrs: object) -> Build:
    return lambda g, x, u, v: g.add(op, [u, v], attrs)


def _compare_and(op: Op) -> Build:
    """op(u > v, u < 1): a boolean op over two comparisons"""
    return lambda g, x, u, v: g.add(op, [g.add(Op.GT, [u, v]), g.add(Op.LT, [u, _const(g, 1.0)])])


UNARY = [
    Op.NEG,
    Op.ABS,
    Op.EXP,
    Op.LOG,
    Op.LOG1P,
    Op.SIN,
    Op.COS,
    Op.SQRT,
    Op.RSQRT,
    Op.TANH,
    Op.SIGMOID,
    Op.RELU,
    Op.ERF,
]
BINARY = [
    Op.ADD,
    Op.SUB,
    Op.MUL,
    Op.DIV,
    Op.POW,
    Op.MAXIMUM,
    Op.MINIMUM,
    Op.EQ,
    Op.NE,
    Op.LT,
    Op.LE,
    Op.GT,
    Op.GE,
]
WEIGHTS = [[1.5, -2.0, 0.0], [0.5, 1.0, -3.0]]
CASES: dict[str, Build] = {
    **{op.value: _of_u(op) for op in UNARY},
    **{op.value: _of_u_v(op) for op in BINARY},
    "square": lambda g, x, u, v: g.add(Op.MUL, [u, u]),
    "cube": lambda g, x, u, v: g.add(Op.POW, [u, _const(g, 3.0)]),
    "even power": lambda g, x, u, v: g.add(Op.POW, [u, _const(g, 2.0)]),
    "reciprocal power": lambda g, x, u, v: g.add(Op.POW, [u, _const(g, -1.0)]),
    "root power": lambda g, x, u, v: g.add(Op.POW, [u, _const(g, 0.5)]),
    "where": lambda g, x, u, v: g.add(Op.WHERE, [g.add(Op.GT, [u, v]), u, v]),
    "and": _compare_and(Op.AND),
    "or": _compare_and(Op.OR),
    "not": lambda g, x, u, v: g.add(Op.NOT, [g.add(Op.GT, [u, v])]),
    "cast int": lambda g, x, u, v: g.add(Op.CAST, [u], {"dtype": "int64"}),
    "cast bool": lambda g, x, u, v: g.add(Op.CAST, [u], {"dtype": "bool"}),
    "sum": lambda g, x, u, v: g.add(Op.SUM, [x], {"dims": (1,), "keepdim": False}),
    "amax": lambda g, x, u, v: g.add(Op.AMAX, [x], {"dims": (1,), "keepdim": True}),
    "amin": lambda g, x, u, v: g.add(Op.AMIN, [x], {"dims": (1,), "keepdim": False}),
    "argmax": lambda g, x, u, v: g.add(Op.ARGMAX, [x], {"dims": (1,), "keepdim": False}),
    "matmul": lambda g, x, u, v: g.add(Op.MATMUL, [x, _const(g, WEIGHTS)]),
    "interval matmul": lambda g, x, u, v: g.add(
        Op.MATMUL, [x, g.add(Op.RESHAPE, [g.add(Op.EXP, [x])], {"shape": (2, 1)})]
    ),
    "permute": lambda g, x, u, v: g.add(Op.PERMUTE, [x], {"dims": (1, 0)}),
    "expand": lambda g, x, u, v: g.add(Op.EXPAND, [u], {"shape": (3, 4)}),
    "cat": lambda g, x, u, v: g.add(Op.CAT, [v, u, x], {"dim": 1}),
    "softmax": lambda g, x, u, v: _softmax(g, x),
    "shift by another row's max": lambda g, x, u, v: _misaligned_shift(g, x),
}


def _integers(op: Op, **attrs: object) -> Build:
    """op(int(u), 2·int(v) + 1): integer operands, the second odd (never 0: torch refuses an
    integer division by 0)"""

    def build(g: Graph, x: str, u: str, v: str) -> str:
        a = g.add(Op.CAST, [u], {"dtype": "int64"})
        doubled = g.add(Op.MUL, [g.add(Op.CAST, [v], {"dtype": "int64"}), _int(g, 2)])
        return g.add(op, [a, g.add(Op.ADD, [doubled, _int(g, 1)])], attrs)

    return build


def _windowed(op: Op, **attrs: object) -> Build:
    """op over x seen as (batch 1, channel 1, length 2), padded by one on each side"""

    def build(g: Graph, x: str, u: str, v: str) -> str:
        signal = g.add(Op.RESHAPE, [x], {"shape": (1, 1, 2)})
        if op is Op.CONV:  # weight (out, in, k), transposed (in, out, k)
            weight = torch.tensor([[1.5, -2.0], [0.5, 1.0]], dtype=torch.float64)
            weight = weight[None] if attrs["transposed"] else weight[:, None]
            constant = g.add(Op.CONST, value=weight)
            return g.add(op, [signal, constant, _const(g, [0.25, -1.0])], attrs)
        return g.add(op, [signal], attrs)

    return build


POOL = {"kernel": (2,), "stride": (1,), "padding": (1,), "dilation": (1,), "ceil_mode": False}
CONV = {"stride": (1,), "padding": (1,), "dilation": (1,), "output_padding": (0,), "groups": 1}
CASES |= {
    "floor division": _of_u_v_with(Op.DIV_ROUNDED, rounding="floor"),
    "trunc division": _of_u_v_with(Op.DIV_ROUNDED, rounding="trunc"),
    "remainder": _of_u_v_with(Op.MOD, rounding="floor"),
    "fmod": _of_u_v_with(Op.MOD, rounding="trunc"),
    "integer remainder": _integers(Op.MOD, rounding="floor"),
    "integer floor division": _integers(Op.DIV_ROUNDED, rounding="floor"),
    "bitwise and": _integers(Op.BITWISE, fn="and"),
    "bitwise or": _integers(Op.BITWISE, fn="or"),
    "bitwise xor": _integers(Op.BITWISE, fn="xor"),
    "left shift": _integers(Op.BITWISE, fn="left_shift"),
    "right shift": _integers(Op.BITWISE, fn="right_shift"),
    "conv": _windowed(Op.CONV, transposed=False, **CONV),
    "transposed conv": _windowed(Op.CONV, transposed=True, **CONV),
    "max pool": _windowed(
        Op.POOL, kind="max", count_include_pad=False, divisor_override=None, **POOL
    ),
    "avg pool": _windowed(
        Op.POOL, kind="avg", count_include_pad=True, divisor_override=None, **POOL
    ),
}


def _misaligned_shift(g: Graph, x: str) -> str:
    """y[i, j] - max_k y[j, k]: the max without keepdim lines up with the wrong axis."""
    y = g.add(Op.CAT, [x, g.add(Op.NEG, [x])], {"dim": 0})
    return g.add(Op.SUB, [y, g.add(Op.AMAX, [y], {"dims": (1,), "keepdim": False})])


def _softmax(g: Graph, x: str) -> str:
    shifted = g.add(Op.SUB, [x, g.add(Op.AMAX, [x], {"dims": (1,), "keepdim": True})])
    exps = g.add(Op.EXP, [shifted])
    return g.add(Op.DIV, [exps, g.add(Op.SUM, [exps], {"dims": (1,), "keepdim": True})])


def _op_graph(case: str, lo: list[float], hi: list[float]) -> tuple[Graph, list[InputSpec]]:
    specs = parse_inputs([f"x:double[2]=[{lo[0]}..{hi[0]}, {lo[1]}..{hi[1]}]"])
    g = Graph()
    x = g.add(Op.INPUT, name="x", shape=(1, 2), dtype="float64", attrs={"spec": "x"})
    u = g.add(Op.SLICE, [x], {"dim": 1, "start": 0, "end": 1, "step": 1})
    v = g.add(Op.SLICE, [x], {"dim": 1, "start": 1, "end": 2, "step": 1})
    g.outputs = [CASES[case](g, x, u, v)]
    return g, specs


_ends = st.floats(-4, 4, allow_nan=False).map(lambda f: round(f, 2) + 0.0)  # no -0.0


@pytest.mark.parametrize("case", sorted(CASES))
@settings(max_examples=8)
@given(st.lists(_ends, min_size=4, max_size=4), st.integers(0, 2**16))
def test_every_op_bounds_its_sampled_values(case: str, ends: list[float], seed: int) -> None:
    (a, b), (c, d) = sorted(ends[:2]), sorted(ends[2:])
    graph, specs = _op_graph(case, [a, c], [b, d])
    assert_inside(graph, specs, (DOUBLE_SLACK, DOUBLE_SLACK), n=64, seed=seed)


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_op_has_a_finite_rule_on_a_safe_box(case: str) -> None:
    """On a box away from 0 (no division by 0, no log of negatives) no op is left unbounded."""
    graph, specs = _op_graph(case, [0.5, 1.5], [1.0, 2.0])
    lo, hi = node_bounds(graph, specs)[graph.outputs[0]]
    assert bool(lo.isfinite().all() and hi.isfinite().all()), case


@pytest.mark.parametrize(
    ("case", "lo", "hi", "expected"),
    [
        ("matmul", [-1, 0], [1, 2], ([-1.5, -2.0, -6.0], [2.5, 4.0, 0.0])),  # exact: a point matrix
        ("relu", [-2, 0], [3, 0], ([0.0], [3.0])),
        ("abs", [-2, 0], [1, 0], ([0.0], [2.0])),
        ("square", [-2, 0], [1, 0], ([0.0], [4.0])),
        ("even power", [-2, 0], [1, 0], ([0.0], [4.0])),
        ("cube", [-2, 0], [1, 0], ([-8.0], [1.0])),
        ("div", [1, -1], [2, 1], ([-np.inf], [np.inf])),  # the divisor's interval contains 0
        ("div", [1, 2], [2, 4], ([0.25], [1.0])),
        ("reciprocal power", [-1, 0], [1, 0], ([-np.inf], [np.inf])),
        ("sin", [0, 0], [3, 0], ([0.0], [1.0])),  # the peak at π/2 is inside, the trough is not
        ("cos", [0, 0], [3, 0], ([np.cos(3)], [1.0])),
        ("gt", [2, 0], [3, 1], ([1.0], [1.0])),  # always true
        ("gt", [0, 2], [1, 3], ([0.0], [0.0])),  # never true
        ("where", [2, 0], [3, 1], ([2.0], [3.0])),  # the condition is always true: only u
        ("argmax", [-3, -1], [3, 1], ([0.0], [1.0])),
        ("remainder", [0, 2], [1.5, 3], ([0.0], [1.5])),  # already below the divisor: itself
        ("remainder", [-4, 2], [4, 3], ([0.0], [3.0])),  # the divisor's sign, below it
        ("fmod", [-4, 2], [-1, 3], ([-3.0], [0.0])),  # x's sign, below the divisor
        ("floor division", [-4, 2], [4, 4], ([-2.0], [2.0])),
        ("bitwise and", [0, 0], [5, 2], ([0.0], [5.0])),  # 0 & 1..5: at most the smaller hull
    ],
)
def test_exact_bounds(case: str, lo: list[float], hi: list[float], expected: tuple) -> None:
    graph, specs = _op_graph(case, lo, hi)
    found_lo, found_hi = node_bounds(graph, specs)[graph.outputs[0]]
    np.testing.assert_allclose(found_lo.reshape(-1).numpy(), expected[0], atol=DOUBLE_SLACK)
    np.testing.assert_allclose(found_hi.reshape(-1).numpy(), expected[1], atol=DOUBLE_SLACK)


def test_softmax_stays_within_0_and_1() -> None:
    """Intervals alone give exp(x - max x) up to e^4 here; the shift and the normalisation are
    recognised, so the probabilities stay in [0, 1]."""
    graph, specs = _op_graph("softmax", [-3, -1], [3, 1])
    lo, hi = node_bounds(graph, specs)[graph.outputs[0]]
    assert bool((lo >= 0).all()) and hi.tolist() == [[1.0, 1.0]]
    assert_inside(graph, specs, (DOUBLE_SLACK, DOUBLE_SLACK))


def test_take_with_an_index_interval_is_the_hull_of_the_rows_in_range() -> None:
    specs = parse_inputs(["i:int[2]=[1..2, 4]"])
    g = Graph()
    i = g.add(Op.INPUT, name="i", shape=(1, 2), dtype="int64", attrs={"spec": "i"})
    table = g.add(Op.CONST, value=torch.tensor([[0.0, 9], [1, -5], [7, 2], [3, 3], [-1, 4]]))
    g.outputs = [g.add(Op.TAKE, [table, i], {"dim": 0})]
    lo, hi = node_bounds(g, specs)[g.outputs[0]]
    assert lo.tolist() == [[[1.0, -5.0], [-1.0, 4.0]]]  # rows 1..2, then row 4 exactly
    assert hi.tolist() == [[[7.0, 2.0], [-1.0, 4.0]]]
    assert_inside(g, specs, (0.0, 0.0))


def test_value_sets_and_calibration_give_the_input_bounds() -> None:
    g = Graph()
    g.add(Op.INPUT, name="x", shape=(1, 2), dtype="float32", attrs={"spec": "x"})
    g.outputs = ["x"]
    lo, hi = node_bounds(g, parse_inputs(["x:float[2]=[{3, -1, 2}, 0..5]"]))["x"]
    assert lo.tolist() == [[-1.0, 0.0]] and hi.tolist() == [[3.0, 5.0]]
    samples = torch.tensor([[0.5, -2.0], [0.25, 7.0], [1.0, 1.0]])
    lo, hi = node_bounds(g, parse_inputs({"x": samples}))["x"]
    assert lo.tolist() == [[0.25, -2.0]] and hi.tolist() == [[1.0, 7.0]]


# --- traced networks ----------------------------------------------------------------------------

ACTIVATIONS = [
    nn.ReLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.GELU,
    nn.SiLU,
    nn.Softplus,
    lambda: nn.LeakyReLU(0.1),
    nn.Hardtanh,
    lambda: nn.Softmax(dim=-1),
]


@settings(max_examples=12)  # each example traces a model (about 0.3 s)
@given(st.integers(1, 3), st.integers(2, 8), st.sampled_from(ACTIVATIONS), st.integers(0, 2**16))
def test_traced_networks_stay_inside_their_bounds(
    depth: int, width: int, activation: Callable, seed: int
) -> None:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Linear(3, width)]
    for _ in range(depth):
        layers += [activation(), nn.Linear(width, width)]
    specs = parse_inputs(["x:float[3]=[-1..1, 0..2, 0.5..0.75]"])
    graph = fold(to_graph(trace(nn.Sequential(*layers), specs), specs), pass_context())
    assert_inside(graph, specs, (FLOAT32_RTOL, FLOAT32_ATOL), n=32, seed=seed)


def test_one_spec_per_input_is_required() -> None:
    graph, specs = _op_graph("relu", [0, 0], [1, 1])
    with pytest.raises(InputError, match="1 inputs, 2 specs"):
        node_bounds(graph, specs * 2)
