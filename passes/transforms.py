"""Target transforms: z = T(y) where T undoes a common outer function of a law (log for
products and powers, y² for square roots, 1/y for sums of reciprocals, sin for asin, ...), with
the inverse that turns a formula for z back into one for y. A transform applies only where the
network's values lie in its domain, with a margin: log needs y > 0, asin |y| ≤ 1, and so on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy

from .oracle import Oracle

__all__ = ["TRANSFORMS", "Transform", "Transformed", "applicable"]

MARGIN = 1e-3  # values must stay this far (relative to their scale) inside a transform's domain
NEAR_ZERO = 2e-2  # a nonnegative law's network may dip this far below zero (relative to its max)


@dataclass(frozen=True)
class Transform:
    """z = forward(y), its derivative dz/dy, the inverse y = inverse(z) in sympy, and the test
    `domain(low, high)` on the range of y."""

    forward: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray], np.ndarray]
    inverse: Callable[[sympy.Expr], sympy.Expr]
    domain: Callable[[float, float], bool]


def _positive(low: float, high: float) -> bool:
    return low > MARGIN * max(abs(high), abs(low))


def _nonnegative(low: float, high: float) -> bool:
    """Values ≥ 0 up to a network's rounding near zero (as a distance or a norm)."""
    return high > 0 and low > -NEAR_ZERO * high


def _away_from_zero(low: float, high: float) -> bool:
    return _positive(low, high) or _positive(-high, -low)


HALF_PI = float(np.pi / 2)
EDGE = 1.02  # a network's asin may overshoot ±π/2 a little where the law reaches it

# name → transform; tried in this order
TRANSFORMS: dict[str, Transform] = {
    "log": Transform(np.log, lambda y: 1 / y, sympy.exp, _positive),
    "inverse": Transform(lambda y: 1 / y, lambda y: -1 / y**2, lambda z: 1 / z, _away_from_zero),
    "square": Transform(lambda y: y**2, lambda y: 2 * y, sympy.sqrt, _nonnegative),
    "inverse square": Transform(
        lambda y: y**-2.0, lambda y: -2 * y**-3.0, lambda z: 1 / sympy.sqrt(z), _positive
    ),
    "sqrt": Transform(np.sqrt, lambda y: 0.5 / np.sqrt(y), lambda z: z**2, _positive),
    "sin": Transform(
        np.sin,
        np.cos,
        sympy.asin,
        lambda low, high: -EDGE * HALF_PI < low and high < EDGE * HALF_PI,
    ),
    "cos": Transform(
        np.cos, lambda y: -np.sin(y), sympy.acos, lambda low, high: 0 < low < high < np.pi
    ),
    "asin": Transform(
        np.arcsin,
        lambda y: 1 / np.sqrt(1 - y**2),
        sympy.sin,
        lambda low, high: -1 + MARGIN < low and high < 1 - MARGIN,
    ),
    "exp": Transform(np.exp, np.exp, sympy.log, lambda low, high: -30 < low and high < 30),
    # not tried as a transform: the recovery of a negative f solves −f
    "negate": Transform(
        np.negative, lambda y: -np.ones_like(y), lambda z: -z, lambda lo, hi: False
    ),
}


def applicable(values: np.ndarray) -> list[str]:
    """The transforms whose domain holds the range of these values."""
    low, high = float(np.min(values)), float(np.max(values))
    return [name for name, t in TRANSFORMS.items() if t.domain(low, high)]


@dataclass(frozen=True)
class Transformed:
    """T(parent): the same variables, the transformed values."""

    parent: Oracle
    name: str

    def values(self, X: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return TRANSFORMS[self.name].forward(self.parent.values(X))

    def gradient(self, X: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            slope = TRANSFORMS[self.name].derivative(self.parent.values(X))
        return slope[:, None] * self.parent.gradient(X)
