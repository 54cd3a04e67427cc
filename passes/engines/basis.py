"""Sparse regression over a library of candidate terms: deterministic and fast for polynomial,
rational and Fourier-like laws.

The library holds products of up to three factors of distinct variables, each factor one of
x, x², x³, 1/x, 1/x², √x, exp(±x), log x, sin x, cos x (those defined on the data). Forward
selection adds, one at a time, the term that most reduces the least-squares residual; every
model size along the way is a candidate.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np
import sympy

from . import Candidate, SearchSettings

__all__ = ["BasisEngine", "library"]

MAX_TERMS = 5
MAX_COLUMNS = 6000

# factor name → (sympy of the variable, numpy on the column, needs positive values, operator)
_FACTORS: dict[str, tuple[Callable, Callable, bool, str]] = {
    "x": (lambda s: s, lambda v: v, False, "mul"),
    "x^2": (lambda s: s**2, lambda v: v**2, False, "mul"),
    "x^3": (lambda s: s**3, lambda v: v**3, False, "mul"),
    "1/x": (lambda s: 1 / s, lambda v: 1 / v, True, "div"),
    "1/x^2": (lambda s: s**-2, lambda v: v**-2.0, True, "div"),
    "sqrt": (sympy.sqrt, np.sqrt, True, "sqrt"),
    "exp": (sympy.exp, np.exp, False, "exp"),
    "exp-": (lambda s: sympy.exp(-s), lambda v: np.exp(-v), False, "exp"),
    "log": (sympy.log, np.log, True, "log"),
    "sin": (sympy.sin, np.sin, False, "sin"),
    "cos": (sympy.cos, np.cos, False, "cos"),
}


def library(
    X: np.ndarray, names: Sequence[str], operators: Sequence[str]
) -> tuple[np.ndarray, list[sympy.Expr], list[int]]:
    """Columns, their sympy terms and complexities (leaves + operations)."""
    factors: list[list[tuple[sympy.Expr, np.ndarray, int]]] = []
    for column, name in zip(X.T, names):
        symbol = sympy.Symbol(name)
        per_variable = []
        for key, (to_sympy, to_numpy, positive, operator) in _FACTORS.items():
            if operator not in operators or (positive and column.min() <= 0):
                continue
            per_variable.append(
                (to_sympy(symbol), to_numpy(column), 1 + key.count("^") * 2 + (key not in ("x",)))
            )
        factors.append(per_variable)
    columns, terms, sizes = [np.ones(len(X))], [sympy.Integer(1)], [1]
    for count in (1, 2, 3):
        for variables in itertools.combinations(range(len(names)), count):
            for choice in itertools.product(*[factors[v] for v in variables]):
                columns.append(np.prod([c[1] for c in choice], axis=0))
                terms.append(sympy.Mul(*[c[0] for c in choice]))
                sizes.append(sum(c[2] for c in choice) + count - 1)
                if len(columns) >= MAX_COLUMNS:
                    return np.stack(columns, axis=1), terms, sizes
    return np.stack(columns, axis=1), terms, sizes


class BasisEngine:
    name = "basis"

    def fit(
        self, X: np.ndarray, y: np.ndarray, names: Sequence[str], settings: SearchSettings
    ) -> list[Candidate]:
        columns, terms, sizes = library(X, names, settings.operators)
        usable = np.isfinite(columns).all(axis=0)
        columns, terms = columns[:, usable], [t for t, u in zip(terms, usable) if u]
        sizes = [s for s, u in zip(sizes, usable) if u]
        scale = np.linalg.norm(columns, axis=0)
        scale[scale == 0] = 1
        normalized = columns / scale
        candidates, chosen = [], []
        for count in range(1, min(MAX_TERMS, len(terms)) + 1):
            if count == 2:
                chosen = _best_pair(normalized, y)
            else:
                rest = [j for j in range(len(terms)) if j not in chosen]
                best = min(rest, key=lambda j: _least_squares(normalized[:, chosen + [j]], y)[1])
                chosen = chosen + [best]
            coefficients, residual = _least_squares(columns[:, chosen], y)
            expr = sum(sympy.Float(c) * terms[j] for c, j in zip(coefficients, chosen))
            complexity = sum(sizes[j] for j in chosen) + 2 * len(chosen) - 1
            candidates.append(Candidate(expr, complexity, residual / len(y)))
            if residual <= 1e-20 * max(1.0, float(y @ y)):
                break
        return sorted(candidates, key=lambda c: c.complexity)


def _best_pair(normalized: np.ndarray, y: np.ndarray, rows: int = 256) -> list[int]:
    """The two unit-norm columns whose span is closest to y, over every pair, from the Gram
    matrix: residual(i, j) = y·y − (b_i² + b_j² − 2 b_i b_j g_ij) / (1 − g_ij²)."""
    gram = normalized.T @ normalized
    b = normalized.T @ y
    best, best_gain = [0, 1], -np.inf
    for start in range(0, len(b), rows):
        g = gram[start : start + rows]
        bi = b[start : start + rows, None]
        denominator = 1 - g**2
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = (bi**2 + b[None, :] ** 2 - 2 * bi * b[None, :] * g) / denominator
        gain[~(denominator > 1e-9)] = -np.inf
        i, j = np.unravel_index(np.argmax(gain), gain.shape)
        if gain[i, j] > best_gain:
            best, best_gain = [start + int(i), int(j)], float(gain[i, j])
    return sorted(best)


def _least_squares(A: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    coefficients, *_ = np.linalg.lstsq(A, y, rcond=None)
    residual = y - A @ coefficients
    return coefficients, float(residual @ residual)
