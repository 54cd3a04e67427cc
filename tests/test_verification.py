"""Verification against the reference: which tolerance applies, which outputs are compared, and
that a decision head over a faithful network has its raw scores checked too. Native code is
replaced by recorded answers, so each figure is known in advance."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
import sympy
import torch
from nnc.api import with_output_head
from nnc.fidelity import Gate
from nnc.graph import Graph
from nnc.ops import Op
from nnc.options import make_options
from nnc.reference import Reference
from nnc.spec import InputSpec
from nnc.spec_grammar import parse_inputs
from nnc.verification import check_against_reference

X = np.linspace(-1, 1, 20).reshape(10, 2)


class Recorded:
    """Native code that answers with fixed outputs, whatever the rows."""

    def __init__(self, outputs: np.ndarray) -> None:
        self.outputs = outputs
        self.rows: list[int] = []

    def run(self, x: np.ndarray) -> np.ndarray:
        self.rows.append(len(x))
        return self.outputs[: len(x)]


def _scores() -> Graph:
    """Two class scores from x: x @ w, float32."""
    graph = Graph()
    x = graph.add(Op.INPUT, name="x", shape=(1, 2), dtype="float32")
    w = graph.add(Op.CONST, value=torch.tensor([[1.0, -1.0], [0.5, 2.0]]))
    graph.outputs = [graph.add(Op.MATMUL, [x, w], name="scores")]
    return graph


NETWORK = X @ np.array([[1.0, -1.0], [0.5, 2.0]])
SPECS = parse_inputs(["x:float[2]=-1..1"])


def _check(
    graph: Graph,
    outputs: np.ndarray,
    approximate: bool = False,
    compile_native=None,
    limit: int | None = None,
    network: np.ndarray = NETWORK,
    **options,
):
    opts = make_options(**options)
    return check_against_reference(
        graph,
        Recorded(outputs),
        compile_native or (lambda g, s, k: pytest.fail("nothing else is compiled")),
        Reference([X], True, 10, network),
        SPECS,
        opts,
        Gate.from_options(opts),
        approximate,
        limit,
    )


def test_an_exact_compile_is_held_to_float32_rounding() -> None:
    assert _check(_scores(), NETWORK * (1 + 1e-6)).passed
    failed = _check(_scores(), NETWORK * (1 + 1e-4))
    assert not failed.passed and failed.tolerance == 1e-5
    assert failed.max_rel == pytest.approx(1e-4, rel=1e-6)


def test_an_approximate_compile_is_held_to_the_gate() -> None:
    fidelity = _check(_scores(), NETWORK * (1 + 1e-2), approximate=True)
    assert fidelity.passed and fidelity.tolerance == 5e-2


def test_the_tolerance_option_wins() -> None:
    assert _check(_scores(), NETWORK * (1 + 1e-4), tolerance=1e-3).passed


def test_a_limit_checks_the_first_points_and_says_it_was_not_everything() -> None:
    fidelity = _check(_scores(), NETWORK, limit=4)
    assert fidelity.points == 4 and not fidelity.complete
    assert _check(_scores(), NETWORK).complete


def test_an_integer_program_is_compared_point_by_point() -> None:
    a, b = sympy.symbols("a b", integer=True)
    graph = Graph()
    x = graph.add(Op.INPUT, name="x", shape=(1, 2), dtype="float32")
    attrs = {
        "expr": sympy.floor(a + b),
        "bindings": (("a", 0, 0), ("b", 0, 1)),
        "shape": (1, 1),
        "dtype": "int64",
    }
    graph.outputs = [graph.add(Op.EXPR, [x], attrs)]
    network = np.floor(X.sum(axis=1, keepdims=True))
    right = _check(graph, network, network=network)
    assert right.max_rel is None and right.agreement == 10 and right.passed
    wrong = network.copy()
    wrong[3] += 1
    fidelity = _check(graph, wrong, network=network)
    assert fidelity.agreement == 9 and not fidelity.passed


def test_a_decision_head_over_the_network_checks_its_raw_scores_too() -> None:
    headed = with_output_head(_scores(), make_options(output="argmax").output)
    compiled: list[tuple[list[str], str]] = []

    def compile_native(graph: Graph, specs: Sequence[InputSpec], kind: str) -> Recorded:
        compiled.append((graph.outputs, kind))
        return Recorded(NETWORK * (1 + 1e-3))  # the scores drift, the decisions do not

    decisions = NETWORK.argmax(axis=1)
    fidelity = _check(headed, decisions, compile_native=compile_native, output="argmax")
    assert compiled == [(["scores"], "raw")]
    assert fidelity.agreement == 10 and fidelity.max_rel == pytest.approx(1e-3, rel=1e-6)
    assert not fidelity.passed  # the faithful network must still compute the network's scores
