"""Constants: simple numbers (rationals, compound constants with π, √2, √3, e), normalised forms
whose constants share a scale, snapping that refits and keeps only what does not worsen the fit,
and the description length the gate reads."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
from nnc.passes.constants import (
    constant_bits,
    nearest_simple,
    normalized,
    simple_numbers,
    snap_constants,
)

x0, x1, x2 = sympy.symbols("x0 x1 x2", positive=True)
# the planted data below carry this relative noise, like a network's approximation error
NOISE = 1e-3


def noisy(values: np.ndarray, seed: int = 0) -> np.ndarray:
    return values * (1 + NOISE * np.random.default_rng(seed).standard_normal(values.shape))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1 / (4 * math.pi) * 1.0002, 1 / (4 * sympy.pi)),
        (1 / (8 * math.pi**2) * 0.9999, 1 / (8 * sympy.pi**2)),
        (1 / math.sqrt(2 * math.pi), 1 / sympy.sqrt(2 * sympy.pi)),
        (3 / 5 / (4 * math.pi), sympy.Rational(3, 20) / sympy.pi),
        (0.50003, sympy.Rational(1, 2)),
    ],
)
def test_compound_constants(value: float, expected: sympy.Expr) -> None:
    # within 2e-4 (a network's precision on a constant fitted over many points) the expected
    # constant is the simplest candidate
    assert sympy.simplify(nearest_simple(value, 2e-4) - expected) == 0


def test_simplest_candidates_first_and_long_descriptions_close() -> None:
    # 2/5 is within 1% of 1/√(2π) and simpler: tried first, then rejected by the fit
    assert simple_numbers(1 / math.sqrt(2 * math.pi), 1e-2)[:2] == [
        sympy.Rational(2, 5),
        1 / sympy.sqrt(2 * sympy.pi),
    ]
    assert simple_numbers(1.0003, 1e-2)[0] == 1
    assert simple_numbers(0.7431, 1e-2, compound=False) == []  # nothing simple is that close


def test_normalised_form_pulls_a_shared_scale_out() -> None:
    formula = 30 * x0 / (7 * (sympy.Float(8.571) * x1 + sympy.Float(8.572)))
    normal = normalized(formula)
    assert sympy.Integer(1) in [
        t.as_coeff_Mul()[0]
        for t in sympy.Add.make_args(
            next(a.base for a in sympy.Mul.make_args(normal) if isinstance(a, sympy.Pow))
        )
    ]
    X = np.random.default_rng(0).uniform(1, 3, size=(500, 2))
    y = noisy(X[:, 0] / (2 * (1 + X[:, 1])))
    assert sympy.simplify(snap_constants(formula, [x0, x1], X, y) - x0 / (2 * (x1 + 1))) == 0


def test_a_sum_with_an_exact_coefficient_keeps_its_scale() -> None:
    """1 + 3.4·u already has its scale fixed by the 1: dividing out 3.4 would give the fit a
    constant too many, which drifts along the ridge the snapping then follows."""
    u = sympy.Symbol("u", positive=True)
    formula = (sympy.Float(0.66) * u + sympy.Float(1.002)) / (1 + sympy.Float(3.4) * u)
    assert normalized(formula) == formula


def test_snapping_compound_prefactor_and_refit() -> None:
    X = np.random.default_rng(1).uniform(1, 5, size=(800, 3))
    y = noisy(X[:, 0] * X[:, 1] / (4 * np.pi * X[:, 2] ** 2))
    fitted = sympy.Float(0.0797) * x0 * x1 / x2 ** sympy.Float(2.0003)
    assert snap_constants(fitted, [x0, x1, x2], X, y) == x0 * x1 / (4 * sympy.pi * x2**2)


def test_snapping_rejects_a_simple_number_that_worsens_the_fit() -> None:
    X = np.random.default_rng(2).uniform(1, 3, size=(500, 1))
    y = noisy(0.7463 * np.exp(X[:, 0]))  # 3/4 is 0.5% away: five times the noise
    snapped = snap_constants(sympy.Float(0.74) * sympy.exp(x0), [x0], X, y, compound=False)
    assert snapped.atoms(sympy.Float), snapped  # refitted, not replaced
    (constant,) = snapped.atoms(sympy.Float)
    assert abs(float(constant) / 0.7463 - 1) < NOISE


def test_description_length_of_constants() -> None:
    assert constant_bits(x0 * x1 / (4 * sympy.pi * x2**2)) == pytest.approx(5.5)  # 1/4 · 1/π
    assert constant_bits(sympy.sqrt(x0**2 + x1**2)) == 0  # exponents are structure
    gaussian = sympy.exp(-(x0**2) / 2) / sympy.sqrt(2 * sympy.pi)
    assert constant_bits(gaussian) == pytest.approx(6.5)  # −1/2 and 1/√(2π)
    assert constant_bits(sympy.Float(0.3) * x0 + sympy.Float(1.2)) == 32  # two fitted floats
