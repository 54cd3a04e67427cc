"""Snap constants to the simple numbers they stand for (1.0000003 → 1, 0.39894 → 1/√(2π)), refit
the rest by least squares, and keep a snap only when the fit does not get worse.

Before snapping, every sum inside a product or power is normalised: its largest fitted
coefficient is divided out and moved to the product's coefficient, so constants that share a
scale become one (30·x0/(7·(8.571·x1 + 8.572)) → 0.5·x0/(x1 + 1.0001) → x0/(2·(x1 + 1))).

Simple numbers are small rationals, alone or times one named constant (π, π², √2, √3, √π,
√(2π), e and inverses: compound constants such as 1/(4π), 1/(8π²), 3/(20π), 1/√(2π)); each is
tried in order of its description length L (in bits), only when it matches within 2^-L (a long
description matching loosely is likely a coincidence), and the first that keeps the fit is
taken.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from functools import cache

import numpy as np
import sympy
from scipy.optimize import least_squares

__all__ = [
    "constant_bits",
    "floated",
    "nearest_simple",
    "normalized",
    "real_values",
    "refit",
    "simple_numbers",
    "snap_constants",
]

MAX_DENOMINATOR = 30
MAX_NUMERATOR = 50  # 127/5 is not a "simple" number; 3/2 and 9/8 are
TRIES = 3  # simple numbers tried per constant, simplest first
FLOAT_BITS = 16.0  # description length of a fitted constant: no simple number stands for it
# named constants a law's constant may contain, one at a time, times a small rational: (value,
# description length in bits). 1/(4π) is 1/4 · π⁻¹, 1/(8π²) is 1/8 · π⁻², 1/√(2π) is itself.
NAMED: tuple[tuple[sympy.Expr, float], ...] = (
    (sympy.pi, 2.5),
    (1 / sympy.pi, 2.5),
    (sympy.pi**2, 3.5),
    (1 / sympy.pi**2, 3.5),
    (sympy.sqrt(2), 2.5),
    (sympy.sqrt(3), 3.0),
    (sympy.sqrt(sympy.pi), 3.0),
    (1 / sympy.sqrt(sympy.pi), 3.0),
    (sympy.sqrt(2 * sympy.pi), 3.5),
    (1 / sympy.sqrt(2 * sympy.pi), 3.5),
    (sympy.E, 3.0),
    (1 / sympy.E, 3.0),
)


@cache
def _named_products() -> tuple[tuple[float, sympy.Expr, float], ...]:
    """(value, sympy, description length) of 1 and of each named constant."""
    return ((1.0, sympy.Integer(1), 0.0), *((float(c), c, bits) for c, bits in NAMED))


def _rational_cost(fraction: Fraction) -> float:
    return math.log2(abs(fraction.numerator) + 1) + math.log2(fraction.denominator)


def number_bits(number: sympy.Expr) -> float:
    """Description length of a constant: a rational's numerator and denominator, plus the named
    constant it multiplies (FLOAT_BITS for anything else: a fitted float, a contrived product)."""
    if number.atoms(sympy.Float):
        return FLOAT_BITS
    value = float(number)
    if value == 0:
        return 1.0
    best = FLOAT_BITS
    for named_value, _, cost in _named_products():
        ratio = Fraction(value / named_value).limit_denominator(10**4)
        if abs(float(ratio) * named_value - value) <= 1e-12 * abs(value):
            best = min(best, _rational_cost(ratio) + cost)
    return best


def floated(expr: sympy.Expr) -> sympy.Expr:
    """The formula with its constants as floats again (exponents and signs excepted), so that a
    formula assembled from parts is refitted and snapped as a whole."""
    if not expr.free_symbols:
        return expr if expr in (1, -1) else sympy.Float(float(expr))
    if isinstance(expr, sympy.Pow) and expr.exp.is_Rational:
        return floated(expr.base) ** expr.exp
    if expr.is_Atom:
        return expr
    return expr.func(*[floated(a) for a in expr.args])


def constant_bits(expr: sympy.Expr) -> float:
    """The description length of a formula's constants: every maximal constant subexpression
    (a product's or a sum's numeric parts taken together; exponents of powers excepted, x² is
    structure), a fitted float costing FLOAT_BITS."""
    if not expr.free_symbols:
        return number_bits(expr)
    if isinstance(expr, sympy.Pow) and expr.exp.is_Rational:
        return constant_bits(expr.base)
    if isinstance(expr, (sympy.Mul, sympy.Add)):
        numeric = [a for a in expr.args if not a.free_symbols]
        rest = [a for a in expr.args if a.free_symbols]
        together = expr.func(*numeric) if numeric else None
        own = number_bits(together) if together is not None and together != 1 else 0.0
        return own + sum(constant_bits(a) for a in rest)
    return sum(constant_bits(a) for a in expr.args)


def simple_numbers(value: float, rel_tol: float, compound: bool = True) -> list[sympy.Expr]:
    """Simple numbers within rel_tol of `value`, and within 2^-L when their description takes L
    bits, simplest first: small rationals, alone or times a named constant (`compound`)."""
    if value == 0:
        return [sympy.Integer(0)]
    found: dict[sympy.Expr, tuple[float, float]] = {}
    for named_value, named, named_cost in _named_products() if compound else [(1.0, 1, 0.0)]:
        fraction = Fraction(value / named_value).limit_denominator(MAX_DENOMINATOR)
        if not fraction or abs(fraction.numerator) > MAX_NUMERATOR:
            continue
        candidate = float(fraction) * named_value
        length = _rational_cost(fraction) + named_cost
        # NOTE: about 2^L numbers have a description of L bits, so a match within 2^-L is
        # likely by chance: a longer description must match more closely
        tolerance = min(rel_tol, 2.0**-length)
        distance = abs(candidate - value) / abs(value)
        expr = sympy.Rational(fraction.numerator, fraction.denominator) * named
        if distance <= tolerance and (length, distance) < found.get(expr, (math.inf, 0)):
            found[expr] = (length, distance)
    return sorted(found, key=lambda expr: found[expr])


def nearest_simple(value: float, rel_tol: float) -> sympy.Expr | None:
    """The simplest number within rel_tol of `value`, or None when there is none."""
    options = simple_numbers(value, rel_tol)
    return options[0] if options else None


def normalized(expr: sympy.Expr) -> sympy.Expr:
    """Every sum that is a factor or a power's base, divided by its largest float coefficient,
    that coefficient moved out (so shared scales become one constant)."""
    if expr.is_Atom:
        return expr
    expr = expr.func(*[normalized(a) for a in expr.args])
    if isinstance(expr, sympy.Pow) and isinstance(expr.base, sympy.Add) and expr.exp.is_number:
        lead, rest = _divided(expr.base)
        if lead is not None:
            return lead**expr.exp * rest**expr.exp
    if isinstance(expr, sympy.Mul) and len(expr.args) > 2:
        factors, scale = [], sympy.Integer(1)
        for factor in expr.args:
            lead, rest = _divided(factor) if isinstance(factor, sympy.Add) else (None, factor)
            factors.append(rest)
            scale = scale * (lead if lead is not None else 1)
        return sympy.Mul(scale, *factors)
    return expr


def _divided(total: sympy.Add) -> tuple[sympy.Float | None, sympy.Expr]:
    """(c, total / c) for the sum's float coefficient c of largest magnitude, whose own term
    then has the exact coefficient 1; (None, total) when no coefficient is a float, or one is
    exact already (1 − 0.34·u: dividing it out would give the fit a redundant constant)."""
    terms = [term.as_coeff_Mul() for term in total.args]
    if any(c.is_Rational and c != 0 for c, _ in terms):  # an exact coefficient fixes the scale
        return None, total
    k = max(range(len(terms)), key=lambda i: abs(float(terms[i][0])))
    lead = terms[k][0]
    if not isinstance(lead, sympy.Float) or lead == 0:
        return None, total
    return lead, sympy.Add(
        *[(1 if i == k else c / lead) * rest for i, (c, rest) in enumerate(terms)]
    )


class _Fit:
    """A formula with its float constants as parameters, compiled once: refitted by least
    squares with any of them held at given values."""

    def __init__(
        self, expr: sympy.Expr, symbols: Sequence[sympy.Symbol], X: np.ndarray, y: np.ndarray
    ) -> None:
        floats = sorted(expr.atoms(sympy.Float), key=float)
        self.parameters = [sympy.Symbol(f"_c{i}") for i in range(len(floats))]
        self.template = expr.xreplace(dict(zip(floats, self.parameters)))
        self.function = sympy.lambdify([*symbols, *self.parameters], self.template, "numpy")
        self.start = np.array([float(f) for f in floats])
        self.columns, self.y = list(X.T), y

    def _residual(self, theta: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            value = real_values(self.function(*self.columns, *theta), self.y.shape) - self.y
        return np.where(np.isfinite(value), value, 1e6)

    def refit(self, held: dict[int, float], start: np.ndarray) -> tuple[np.ndarray, float]:
        """Parameter values (held ones as given, the rest fitted) and the RMSE they give."""
        theta = start.copy()
        for k, value in held.items():
            theta[k] = value
        free = [k for k in range(len(theta)) if k not in held]
        if free:

            def partial_residual(values: np.ndarray) -> np.ndarray:
                theta[free] = values
                return self._residual(theta)

            theta[free] = least_squares(partial_residual, theta[free], method="lm").x
        with np.errstate(all="ignore"):
            value = real_values(self.function(*self.columns, *theta), self.y.shape) - self.y
        rmse = float(np.sqrt(np.mean(value**2)))
        return theta, rmse if math.isfinite(rmse) else math.inf

    def expression(self, theta: np.ndarray, exact: dict[int, sympy.Expr]) -> sympy.Expr:
        values = {
            p: exact.get(k, sympy.Float(v)) for k, (p, v) in enumerate(zip(self.parameters, theta))
        }
        return self.template.xreplace(values)


def refit(
    expr: sympy.Expr, symbols: Sequence[sympy.Symbol], X: np.ndarray, y: np.ndarray
) -> sympy.Expr:
    """Least-squares values for the expression's float constants."""
    fit = _Fit(expr, symbols, X, y)
    theta, _ = fit.refit({}, fit.start)
    return fit.expression(theta, {})


def snap_constants(
    expr: sympy.Expr,
    symbols: Sequence[sympy.Symbol],
    X: np.ndarray,
    y: np.ndarray,
    rel_tol: float = 1e-2,
    slack: float = 1.5,
    compound: bool = True,
) -> sympy.Expr:
    """Snap constants one at a time (the simplest candidates first), refitting the rest; a snap
    is kept when the RMSE stays within `slack` times the unsnapped fit (or tiny). Without
    `compound`, only to rationals (a part of a split, whose constants depend on where the rest
    was held, keeps the others fitted for the whole formula's refit)."""
    fit = _Fit(normalized(expr), symbols, X, y)
    theta, baseline = fit.refit({}, fit.start)
    floor = 1e-9 * max(1.0, float(np.sqrt(np.mean(y**2))))
    # NOTE: the limit stays that of the unsnapped fit, so snaps cannot add up to a worse one
    limit = max(slack * baseline, floor) if math.isfinite(baseline) else math.inf
    exact: dict[int, sympy.Expr] = {}
    while True:
        free = [k for k in range(len(theta)) if k not in exact]
        attempts = [
            (rank, abs(float(simple) - theta[k]) / max(abs(theta[k]), 1e-300), k, simple)
            for k in free
            for rank, simple in enumerate(
                simple_numbers(float(theta[k]), rel_tol, compound)[:TRIES]
            )
        ]
        attempts.sort(key=lambda a: (a[0], a[1]))
        attempts += [(math.inf, math.inf, k, sympy.Integer(0)) for k in free]
        for _, _, k, simple in attempts:
            trial = {**exact, k: simple}
            values, error = fit.refit({i: float(v) for i, v in trial.items()}, theta)
            if error <= limit and error < math.inf:
                exact, theta = trial, values
                break
        else:
            result = fit.expression(theta, exact)
            return sympy.nsimplify(result, rational=False) if len(exact) == len(theta) else result


def real_values(values: object, shape: tuple[int, ...]) -> np.ndarray:
    """A formula's values as real floats of the given shape; complex ones become NaN."""
    values = np.broadcast_to(np.asarray(values), shape)
    if np.iscomplexobj(values):
        values = np.where(values.imag == 0, values.real, np.nan)
    return values.astype(np.float64)
