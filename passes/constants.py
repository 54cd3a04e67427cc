"""Snap constants to the simple numbers they stand for (1.0000003 → 1, 3.14159 → π), refit the
rest by least squares, and keep a snap only when the fit does not get worse."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction

import numpy as np
import sympy
from scipy.optimize import least_squares

__all__ = ["nearest_simple", "refit", "snap_constants"]

MAX_DENOMINATOR = 12
MAX_NUMERATOR = 50  # 127/5 is not a "simple" number; 3/2 and 9/8 are
NAMED_TOLERANCE = 1e-3  # a named constant (π, e, √2, ...) must be this close
# the named constants a law may contain, as sympy values
NAMED = [sympy.pi, sympy.E, sympy.sqrt(2), sympy.sqrt(3), 1 / sympy.pi, sympy.pi**2]


def nearest_simple(value: float, rel_tol: float) -> sympy.Expr | None:
    """The closest simple number within rel_tol of `value`: a small rational, or a small rational
    times a named constant (2π, π/2, √2/2, ...); None when there is none."""
    if value == 0:
        return sympy.Integer(0)
    options: list[tuple[sympy.Expr, float]] = []
    fraction = Fraction(value).limit_denominator(MAX_DENOMINATOR)
    if abs(fraction.numerator) <= MAX_NUMERATOR:
        options.append((sympy.Rational(fraction.numerator, fraction.denominator), rel_tol))
    for named in NAMED:
        ratio = Fraction(value / float(named)).limit_denominator(4)
        if ratio.numerator and abs(ratio.numerator) <= 12:
            options.append(
                (
                    sympy.Rational(ratio.numerator, ratio.denominator) * named,
                    min(rel_tol, NAMED_TOLERANCE),
                )
            )
    close = [o for o, tol in options if abs(float(o) - value) <= tol * abs(value)]
    return min(close, key=lambda o: (abs(float(o) - value), sympy.count_ops(o))) if close else None


def refit(
    expr: sympy.Expr, symbols: Sequence[sympy.Symbol], X: np.ndarray, y: np.ndarray
) -> sympy.Expr:
    """Least-squares values for the expression's remaining float constants."""
    floats = sorted(expr.atoms(sympy.Float), key=float)
    if not floats:
        return expr
    parameters = [sympy.Symbol(f"_c{i}") for i in range(len(floats))]
    template = expr.xreplace(dict(zip(floats, parameters)))
    function = sympy.lambdify([*symbols, *parameters], template, "numpy")
    columns = list(X.T)

    def residual(theta: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            value = np.broadcast_to(function(*columns, *theta), y.shape) - y
        return np.where(np.isfinite(value), value, 1e6)

    solution = least_squares(residual, np.array([float(f) for f in floats]), method="lm")
    return template.xreplace({p: sympy.Float(v) for p, v in zip(parameters, solution.x)})


def snap_constants(
    expr: sympy.Expr,
    symbols: Sequence[sympy.Symbol],
    X: np.ndarray,
    y: np.ndarray,
    rel_tol: float = 1e-2,
    slack: float = 1.5,
) -> sympy.Expr:
    """Snap constants one at a time (the closest to a simple number first), refitting the rest;
    a snap is kept when the RMSE stays within `slack` times the unsnapped fit (or tiny)."""
    error = _rmse_function(symbols, X, y)
    current = refit(expr, symbols, X, y)
    baseline = error(current)
    floor = 1e-9 * max(1.0, float(np.sqrt(np.mean(y**2))))
    while True:
        floats = current.atoms(sympy.Float)
        attempts = []
        for f in floats:
            simple = nearest_simple(float(f), rel_tol)
            if simple is not None:
                attempts.append(
                    (abs(float(simple) - float(f)) / max(abs(float(f)), 1e-300), f, simple)
                )
        attempts.sort(key=lambda a: a[0])
        attempts += [(math.inf, f, sympy.Integer(0)) for f in floats]  # a term that should vanish
        improved = False
        for _, f, simple in attempts:
            candidate = refit(current.xreplace({f: simple}), symbols, X, y)
            if error(candidate) <= max(slack * baseline, floor):
                current, improved = candidate, True
                break
        if not improved:
            return (
                sympy.nsimplify(current, rational=False)
                if not current.atoms(sympy.Float)
                else current
            )


def _rmse_function(
    symbols: Sequence[sympy.Symbol], X: np.ndarray, y: np.ndarray
) -> Callable[[sympy.Expr], float]:
    def rmse(expr: sympy.Expr) -> float:
        with np.errstate(all="ignore"):
            value = np.broadcast_to(sympy.lambdify(symbols, expr, "numpy")(*X.T), y.shape)
        result = float(np.sqrt(np.mean((value - y) ** 2)))
        return result if math.isfinite(result) else math.inf

    return rmse
