"""The oracle steps (passes/structure.py) on planted functions whose structure is known, on
networks trained on laws, and on functions that must not be split; recombination of exact
parts gives back the function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import sympy
from nnc.modelfile import load_model
from nnc.passes.oracle import NetworkOutput, Problem, numeric_gradient, variable
from nnc.passes.structure import VERIFY, homogeneous, linear, separable, symmetric, unused
from nnc.torch_model import model_gradient, run_model

ROOT = Path(__file__).resolve().parents[2]
# a planted function is exact: its splits verify to float rounding, far below the threshold
EXACT_SPLIT = 1e-6
# a float32 network's values carry ~1e-7 relative rounding; central differences with a step of
# 1e-3 of the range turn it into ~1e-4, and curvature adds as much again
FINITE_DIFFERENCE_RTOL = 1e-2
FINITE_DIFFERENCE_ATOL = 1e-3


@dataclass(frozen=True)
class Planted:
    """A known function as an oracle (gradient by central differences)."""

    function: Callable[..., np.ndarray]
    width: tuple[float, ...]

    def values(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.function(*X.T), dtype=np.float64)

    def gradient(self, X: np.ndarray) -> np.ndarray:
        return numeric_gradient(self.values, X, np.asarray(self.width))


def planted(function: Callable[..., np.ndarray], lo: list[float], hi: list[float]) -> Problem:
    width = tuple(h - low for low, h in zip(lo, hi))
    symbols = tuple(variable(f"x{k}", low) for k, low in enumerate(lo))
    return Problem(Planted(function, width), symbols, tuple(lo), tuple(hi))


def parts_of(step) -> list[set[str]]:
    return [{s.name for s in part.symbols} for part in step.parts]


def recombined_error(problem: Problem, step, formulas: list[sympy.Expr]) -> float:
    """Max relative error of the recombined formula against the function."""
    X = problem.sample(512, 99)
    expr = step.recombine(formulas)
    got = sympy.lambdify(problem.symbols, expr, "numpy")(*X.T)
    truth = problem.values(X)
    return float(np.max(np.abs(got - truth)) / np.max(np.abs(truth)))


def test_additive_split_of_a_planted_sum() -> None:
    problem = planted(lambda a, b, c: a**2 + np.sin(b) * c, [1, 1, 1], [3, 3, 3])
    step = separable(problem, "additive", seed=0)
    assert step is not None and parts_of(step) == [{"x0"}, {"x1", "x2"}]
    assert step.error < EXACT_SPLIT
    x0, x1, x2 = problem.symbols
    f0 = step.detail[0]  # the value at the box's center, where the other group is held
    g = x0**2 + sympy.sin(2) * 2  # f(x0, center)
    h = 4 + sympy.sin(x1) * x2  # f(center, x1, x2)
    assert abs(f0 - (4 + np.sin(2) * 2)) < EXACT_SPLIT
    assert recombined_error(problem, step, [g, h]) < EXACT_SPLIT


def test_multiplicative_split_of_a_planted_product() -> None:
    problem = planted(lambda a, b: a * np.exp(-b), [1, 0], [3, 2])
    assert separable(problem, "additive", seed=0) is None  # a product is not a sum
    step = separable(problem, "multiplicative", seed=0)
    assert step is not None and parts_of(step) == [{"x0"}, {"x1"}]
    x0, x1 = problem.symbols
    g, h = x0 * sympy.exp(-1), 2 * sympy.exp(-x1)  # f(x0, 1), f(2, x1); f0 = 2/e
    assert recombined_error(problem, step, [g, h]) < EXACT_SPLIT


@pytest.mark.parametrize(
    "function",
    [lambda a, b: np.sin(a * b), lambda a, b: a / (a + b), lambda a, b: np.sqrt(a**2 + b**2)],
    ids=["sin(ab)", "a/(a+b)", "sqrt(a²+b²)"],
)
def test_a_function_that_is_not_separable_is_not_split(function) -> None:
    problem = planted(function, [1, 1], [3, 3])
    assert separable(problem, "additive", seed=0) is None
    assert separable(problem, "multiplicative", seed=0) is None


@pytest.mark.parametrize(
    ("function", "form", "expected"),
    [
        (lambda a, b, c: np.exp(-((a - b) ** 2)) * c, "difference", "x0 - x1"),
        (lambda a, b, c: np.log(a / b) + c, "ratio", "x0/x1"),
        (lambda a, b, c: np.cos(a * b) + c, "product", "x0*x1"),
        (lambda a, b, c: np.sqrt(a**2 + b**2) * c, "squares", "x0**2 + x1**2"),
    ],
)
def test_symmetry_found_and_verified(function, form, expected) -> None:
    problem = planted(function, [1, 1, 1], [3, 3, 3])
    step = symmetric(problem, seed=0)
    assert step is not None and step.detail[1] == form
    assert step.error < EXACT_SPLIT
    (part,) = step.parts
    u = part.symbols[0]
    x0, x1, _ = problem.symbols
    assert (
        sympy.simplify(step.recombine([u]) - sympy.sympify(expected, locals={"x0": x0, "x1": x1}))
        == 0
    )
    # the reduced oracle is f through u: its values match f on fresh points
    X = problem.sample(256, 5)
    Z = np.stack([sympy.lambdify([x0, x1], step.recombine([u]))(X[:, 0], X[:, 1]), X[:, 2]], 1)
    np.testing.assert_allclose(part.values(Z), problem.values(X), rtol=EXACT_SPLIT)


def test_a_product_of_variables_that_start_at_zero() -> None:
    """Feynman II.11.28, 1 + nα/(1 − nα/3) with n and α in 0..1: u = nα is found although
    neither variable is positive everywhere, and f through u matches f, zeros included."""
    problem = planted(lambda n, a: 1 + n * a / (1 - n * a / 3), [0, 0], [1, 1])
    step = symmetric(problem, seed=0)
    assert step is not None and step.detail[1] == "product" and step.error < EXACT_SPLIT
    (part,) = step.parts
    X = np.array([[0.0, 0.7], [0.3, 0.0], [1.0, 1.0], [0.5, 0.4]])
    u = (X[:, 0] * X[:, 1])[:, None]
    np.testing.assert_allclose(part.values(u), problem.values(X), rtol=EXACT_SPLIT)


def test_homogeneity_in_a_pair() -> None:
    """Feynman I.48.2, m·c²/√(1 − v²/c²): of degree 2 in (v, c), so c² times a function of m
    and v/c; the part's own law recombines into f."""
    problem = planted(lambda m, v, c: m * c**2 / np.sqrt(1 - v**2 / c**2), [1, 1, 3], [5, 2, 10])
    step = homogeneous(problem, seed=0)
    assert step is not None and step.kind == "homogeneous" and step.error < EXACT_SPLIT
    u, pair, degree = step.detail
    _, v, c = problem.symbols
    assert pair == (v, c) and degree == 2
    (part,) = step.parts
    assert recombined_error(problem, step, [part.symbols[0] / sympy.sqrt(1 - u**2)]) < 1e-12


def test_no_homogeneity_in_a_generic_function() -> None:
    problem = planted(lambda a, b: a + 2 * b + a * b**2, [1, 1], [3, 3])
    assert homogeneous(problem, seed=0) is None


def test_no_symmetry_in_a_generic_function() -> None:
    problem = planted(lambda a, b: a + 2 * b + a * b**2, [1, 1], [3, 3])
    assert symmetric(problem, seed=0) is None


def test_linear_in_one_variable() -> None:
    problem = planted(lambda a, b: (a - b * 2) / np.sqrt(1 + b**2), [5, 1], [10, 2])
    step = linear(problem, seed=0)
    assert step is not None and step.detail[0].name == "x0" and step.error < EXACT_SPLIT
    x1 = problem.symbols[1]
    slope = 1 / sympy.sqrt(1 + x1**2)
    section = (7.5 - 2 * x1) / sympy.sqrt(1 + x1**2)  # f at the middle of x0's range
    assert recombined_error(problem, step, [slope, section]) < EXACT_SPLIT
    assert linear(planted(lambda a, b: np.sin(a * b), [1, 1], [3, 3]), seed=0) is None


def test_unused_variable_dropped() -> None:
    step = unused(planted(lambda a, b, c: a * c, [1, 1, 1], [3, 3, 3]), seed=0)
    assert step is not None and step.detail[0].name == "x1"
    assert unused(planted(lambda a, b: a * b, [1, 1], [3, 3]), seed=0) is None


def network_problem(law: str) -> Problem:
    """One of the shipped law networks as an oracle, gradient by autograd."""
    loaded = load_model(ROOT / "examples" / "laws" / f"{law}.pt2", False)
    (spec_text,) = loaded.inputs
    from nnc.spec_grammar import parse_inputs

    (spec,) = parse_inputs([spec_text])
    lo, hi = (bounds.tolist() for bounds in spec.bounds())
    oracle = NetworkOutput(
        lambda points: run_model(loaded.module, points),
        lambda points: model_gradient(loaded.module, points),
        ((spec.shape, spec.dtype, (0.0,) * spec.numel),),
        tuple((0, k) for k in range(spec.numel)),
        0,
        tuple(h - low for low, h in zip(lo, hi)),
    )
    symbols = tuple(variable(name, low) for name, low in zip(spec.element_names(), lo))
    return Problem(oracle, symbols, tuple(lo), tuple(hi))


def test_steps_on_networks_trained_on_laws() -> None:
    waves = network_problem("waves")  # sin(x0) + cos(x1)
    step = separable(waves, "additive", seed=0)
    assert step is not None and parts_of(step) == [{"x0"}, {"x1"}] and step.error <= VERIFY
    gravity = network_problem("gravity")  # x0·x1/x2²: a product, and not a sum
    assert separable(gravity, "additive", seed=0) is None
    step = separable(gravity, "multiplicative", seed=0)  # one group off, then the rest again
    assert step is not None and parts_of(step) == [{"x0"}, {"x1", "x2"}] and step.error <= VERIFY
    step = separable(step.parts[1], "multiplicative", seed=1)
    assert step is not None and parts_of(step) == [{"x1"}, {"x2"}] and step.error <= VERIFY
    distance = network_problem("distance")  # √(x0² + x1²): neither, but a function of x0² + x1²
    assert separable(distance, "additive", seed=0) is None
    assert separable(distance, "multiplicative", seed=0) is None
    step = symmetric(distance, seed=0)
    assert step is not None and step.detail[1] == "squares" and step.error <= VERIFY


def test_network_gradient_matches_finite_differences() -> None:
    problem = network_problem("gravity")
    X = problem.sample(64, 3)
    autograd = problem.gradient(X)
    numeric = numeric_gradient(problem.values, X, problem.width)
    np.testing.assert_allclose(
        autograd, numeric, rtol=FINITE_DIFFERENCE_RTOL, atol=FINITE_DIFFERENCE_ATOL
    )
