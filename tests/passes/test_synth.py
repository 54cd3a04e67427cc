"""synth: integer programs recovered from networks that compute known functions, the agreement
threshold with its list of disagreements, and the exact-table fallback."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import nnc
import numpy as np
import pytest
import sympy
import torch
from models import LookupNetwork
from nnc.ops import Op
from torch import nn


def _compile(
    function: Callable[..., int], sizes: list[int], classes: int, **options
) -> nnc.Artifact:
    names = ", ".join(f"v{k}:0..{s - 1}" for k, s in enumerate(sizes))
    spec = f"x:int[{len(sizes)}]=[{names}]"
    return nnc.compile(LookupNetwork(function, sizes, classes), [spec], output="argmax", **options)


def _program(artifact: nnc.Artifact) -> sympy.Expr:
    node = artifact.graph[artifact.graph.outputs[0]]
    assert node.op is Op.EXPR, artifact.report.text()
    return node.attrs["expr"]


def _equal_on_domain(expr: sympy.Expr, function: Callable[..., int], sizes: list[int]) -> bool:
    symbols = [sympy.Symbol(f"v{k}", integer=True) for k in range(len(sizes))]
    evaluate = sympy.lambdify(symbols, expr, "numpy")
    points = np.array(list(itertools.product(*[range(s) for s in sizes])))
    expected = np.array([function(*p) for p in points])
    return np.array_equal(np.broadcast_to(evaluate(*points.T), expected.shape), expected)


CASES = {
    "add mod 7": (lambda a, b: (a + b) % 7, 7),
    "add mod 31": (lambda a, b: (a + b) % 31, 31),
    "sub mod 13": (lambda a, b: (a - b) % 13, 13),
    "sub mod 31": (lambda a, b: (a - b) % 31, 31),
    "mul mod 11": (lambda a, b: (a * b) % 11, 11),
    "mul mod 29": (lambda a, b: (a * b) % 29, 29),
    "square plus mod 11": (lambda a, b: (a * a + b) % 11, 11),
    "max": (lambda a, b: max(a, b), 21),
    "select": (lambda a, b: a if a < b else 20, 21),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_program_recovered_and_verified(name: str, tmp_path) -> None:
    function, p = CASES[name]
    artifact = _compile(function, [p, p], p)
    expr = _program(artifact)
    assert _equal_on_domain(expr, function, [p, p]), f"{name}: {expr}"
    fidelity = artifact.report.fidelity
    assert fidelity.complete and fidelity.agreement == fidelity.points == p * p
    library = nnc.load(artifact.save(tmp_path / "f.so"))
    points = np.array(list(itertools.product(range(p), range(p))))
    np.testing.assert_array_equal(library(points), [function(a, b) for a, b in points])


@pytest.mark.parametrize("bits", [4, 6])
def test_boolean_formula(bits: int) -> None:
    def formula(*b: int) -> int:
        return (
            int((b[0] ^ b[1]) & (b[2] | b[3])) if bits == 4 else int((b[0] & b[1]) | (b[2] ^ b[5]))
        )

    artifact = _compile(formula, [2] * bits, 2)
    assert _equal_on_domain(_program(artifact), formula, [2] * bits)
    assert artifact.report.fidelity.agreement == 2**bits


def test_near_miss_network_is_accepted_with_its_disagreements_listed() -> None:
    flipped = {(3, 4): 0, (10, 20): 5}

    def almost(a: int, b: int) -> int:
        return flipped.get((a, b), (a + b) % 23)

    artifact = _compile(almost, [23, 23], 23, min_agreement=0.99)
    assert _equal_on_domain(_program(artifact), lambda a, b: (a + b) % 23, [23, 23])
    fidelity = artifact.report.fidelity
    assert fidelity.agreement == 23 * 23 - 2 and fidelity.passed
    assert sorted((tuple(p), n, a) for p, n, a in fidelity.disagreements) == [
        ((3, 4), 0, 7),
        ((10, 20), 5, 7),
    ]
    assert "(10, 20)" in artifact.report.text().replace("[", "(").replace("]", ")")


def test_exact_table_when_no_program_is_found() -> None:
    rng = np.random.default_rng(0)
    values = rng.integers(0, 9, size=(17, 17))
    artifact = _compile(
        lambda a, b: int(values[a, b]), [17, 17], 9, synth_seconds=2.0, min_agreement=1.0
    )
    node = artifact.graph[artifact.graph.outputs[0]]
    assert node.op is Op.TABLE and "table" in artifact.report.closed_form
    points = np.array(list(itertools.product(range(17), range(17))))
    np.testing.assert_array_equal(artifact(points), values.ravel())
    assert artifact.report.fidelity.agreement == 17 * 17


def test_program_from_a_trained_network() -> None:
    torch.manual_seed(0)
    points = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4)))
    target = ((points[:, 0] != points[:, 1]) & (points[:, 2] > 0)).float()[:, None]
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(300):
        loss = nn.functional.binary_cross_entropy_with_logits(model(points), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    artifact = nnc.compile(
        model, ["x:float[4]=[b0:{0,1}, b1:{0,1}, b2:{0,1}, b3:{0,1}]"], output="threshold=0"
    )
    expr = _program(artifact)
    b = [sympy.Symbol(f"b{k}", integer=True) for k in range(4)]
    evaluate = sympy.lambdify(b, expr, "numpy")
    got = np.broadcast_to(evaluate(*points.numpy().T.astype(int)), (16,))
    np.testing.assert_array_equal(got, target.numpy().ravel())


def test_exact_mode_never_synthesizes() -> None:
    artifact = _compile(lambda a, b: (a + b) % 7, [7, 7], 7, mode="exact")
    assert artifact.graph[artifact.graph.outputs[0]].op is Op.ARGMAX
