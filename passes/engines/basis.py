"""Sparse regression over a library of candidate terms: deterministic and fast for polynomial,
rational and Fourier-like laws, and for any law a target transform turns into one.

The library holds products of up to three factors of distinct variables (two with more than
three variables), each factor one of x, x², x³, 1/x, 1/x², √x, 1/√x, exp(±x), log x, sin x,
cos x (those the operators allow and the data's range defines), at most one of them
transcendental. The best single term and the best pair (exactly, among the terms that
explain most on their own) start a greedy forward selection; every model size along the way is
a candidate, fitted by least squares. Ratios of linear forms are fitted directly (_ratios).
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
SELECTION_ROWS = 400  # rows used to choose terms (all rows refit the chosen ones)
PAIR_FIRST = 40  # pairs are searched exactly when one of the two is among this many best singles
POOL = 20  # the best single terms, and the best next ones at every greedy step (POOL_PER_STEP),
POOL_PER_STEP = 8  # form the pool every triple of which is tried (at most MAX_POOL of them)
MAX_POOL = 40
STARTS = 4  # greedy selection starts from each of this many best single terms

# factor name → (sympy of the variable, numpy on the column, needs positive values, operator,
# complexity)
_FACTORS: dict[str, tuple[Callable, Callable, bool, str, int]] = {
    "x": (lambda s: s, lambda v: v, False, "mul", 1),
    "x^2": (lambda s: s**2, lambda v: v**2, False, "mul", 3),
    "x^3": (lambda s: s**3, lambda v: v**3, False, "mul", 3),
    "1/x": (lambda s: 1 / s, lambda v: 1 / v, True, "div", 2),
    "1/x^2": (lambda s: s**-2, lambda v: v**-2.0, True, "div", 3),
    "sqrt": (sympy.sqrt, np.sqrt, True, "sqrt", 2),
    "1/sqrt": (lambda s: 1 / sympy.sqrt(s), lambda v: v**-0.5, True, "sqrt", 3),
    "exp": (sympy.exp, np.exp, False, "exp", 2),
    "exp-": (lambda s: sympy.exp(-s), lambda v: np.exp(-v), False, "exp", 3),
    "log": (sympy.log, np.log, True, "log", 2),
    "sin": (sympy.sin, np.sin, False, "sin", 2),
    "cos": (sympy.cos, np.cos, False, "cos", 2),
}
_TRANSCENDENTAL = {"exp", "exp-", "log", "sin", "cos"}


def library(
    X: np.ndarray, names: Sequence[str], operators: Sequence[str], max_factors: int = 3
) -> tuple[np.ndarray, list[tuple[tuple[int, str], ...]], list[int]]:
    """Columns, the (variable, factor) products they are, and their complexities. A product has
    at most one transcendental factor (exp, log, sin, cos)."""
    factors: list[list[tuple[str, np.ndarray, int]]] = []
    for column in X.T:
        usable = []
        for key, (_, to_numpy, positive, operator, size) in _FACTORS.items():
            if operator not in operators or (positive and column.min() <= 0):
                continue
            with np.errstate(all="ignore"):
                values = to_numpy(column)
            if np.all(np.isfinite(values)) and np.abs(values).max() < 1e12:
                usable.append((key, values, size))
        factors.append(usable)
    columns, terms, sizes = [np.ones(len(X))], [()], [1]
    for count in range(1, max_factors + 1):
        for variables in itertools.combinations(range(len(names)), count):
            for choice in itertools.product(*[factors[v] for v in variables]):
                if sum(key in _TRANSCENDENTAL for key, _, _ in choice) > 1:
                    continue
                product = choice[0][1]
                for _, values, _ in choice[1:]:
                    product = product * values
                columns.append(product)
                terms.append(tuple((v, key) for v, (key, _, _) in zip(variables, choice)))
                sizes.append(sum(size for _, _, size in choice) + count - 1)
                if len(columns) >= MAX_COLUMNS:
                    return np.stack(columns, axis=1), terms, sizes
    return np.stack(columns, axis=1), terms, sizes


def _term(product: tuple[tuple[int, str], ...], symbols: Sequence[sympy.Symbol]) -> sympy.Expr:
    return sympy.Mul(*[_FACTORS[key][0](symbols[v]) for v, key in product])


class BasisEngine:
    name = "basis"

    def fit(
        self, X: np.ndarray, y: np.ndarray, names: Sequence[str], settings: SearchSettings
    ) -> list[Candidate]:
        return self.fit_many(X, [y], names, settings)[0]

    def fit_many(
        self,
        X: np.ndarray,
        targets: Sequence[np.ndarray],
        names: Sequence[str],
        settings: SearchSettings,
    ) -> list[list[Candidate]]:
        """Candidates for each target over the same samples (the library is built once)."""
        symbols = [sympy.Symbol(n) for n in names]
        rows = np.linspace(0, len(X) - 1, min(len(X), SELECTION_ROWS)).astype(int)
        found: list[dict[tuple, Candidate]] = [{} for _ in targets]
        # sums of one-variable terms first (few, weakly correlated columns), then products
        for max_factors in (1, 3 if len(names) <= 3 else 2):
            columns, terms, sizes = library(X, names, settings.operators, max_factors)
            usable = np.flatnonzero(
                np.isfinite(columns).all(axis=0) & (np.ptp(columns, axis=0) > 0)
            )
            unit = _unit_columns(columns[np.ix_(rows, usable)])
            for y, candidates in zip(targets, found):
                for chosen in _forward_selection(unit, y[rows]):
                    picked = [0, *usable[chosen]]  # a constant term, snapped away if not needed
                    coefficients, residual = _least_squares(columns[:, picked], y)
                    expr = sympy.Add(
                        *[
                            sympy.Float(c) * _term(terms[j], symbols)
                            for c, j in zip(coefficients, picked)
                        ]
                    )
                    complexity = sum(sizes[j] for j in picked) + 2 * len(picked) - 1
                    key = tuple(sorted(terms[j] for j in picked))
                    candidates.setdefault(key, Candidate(expr, complexity, residual / len(y)))
        if "div" in settings.operators:
            for y, candidates in zip(targets, found):
                for key, candidate in _ratios(X, y, symbols):
                    candidates.setdefault(key, candidate)
        return [sorted(c.values(), key=lambda c: c.complexity) for c in found]


def _ratios(
    X: np.ndarray, y: np.ndarray, symbols: Sequence[sympy.Symbol]
) -> list[tuple[tuple, Candidate]]:
    """Ratios of linear forms, (a0 + Σ a_i x_i)/(1 + Σ b_i x_i), in each variable alone and in
    all of them: y·(1 + Σ b_i x_i) = a0 + Σ a_i x_i is linear in the unknowns, so each is one
    least-squares fit (the greedy selection above, on noisy y·x_i columns, prefers look-alikes
    such as sin x for x)."""
    subsets = [[i] for i in range(X.shape[1])]
    if 1 < X.shape[1] <= 3:
        subsets.append(list(range(X.shape[1])))
    out = []
    for subset in subsets:
        A = np.hstack([np.ones((len(X), 1)), X[:, subset], -y[:, None] * X[:, subset]])
        if not np.all(np.isfinite(A)):
            continue
        c, residual = _least_squares(A, y)
        k = len(subset)
        variables = [symbols[i] for i in subset]
        numerator = sympy.Float(c[0]) + sum(
            sympy.Float(a) * v for a, v in zip(c[1 : 1 + k], variables)
        )
        denominator = 1 + sum(sympy.Float(b) * v for b, v in zip(c[1 + k :], variables))
        key = ("ratio", *subset)
        out.append((key, Candidate(numerator / denominator, 8 * k + 3, residual / len(y))))
    return out


def _unit_columns(columns: np.ndarray) -> np.ndarray:
    """The columns centered (the constant term is always in) and scaled to unit norm."""
    centered = columns - columns.mean(axis=0)
    norms = np.linalg.norm(centered, axis=0)
    norms[norms == 0] = 1
    return centered / norms


def _forward_selection(unit: np.ndarray, y: np.ndarray) -> list[list[int]]:
    """Term sets of size 1..MAX_TERMS: greedy forward selection started from each of the
    STARTS best single terms and from the best pair (see _best_pair); per size, the set that
    explains most."""
    y = y - y.mean()
    gains = (unit.T @ y) ** 2
    ranked = np.argsort(-gains)
    starts = [[int(k)] for k in ranked[:STARTS]]
    if unit.shape[1] >= 2:
        starts.append(_best_pair(unit, y, ranked[:PAIR_FIRST]))
    best: dict[int, tuple[float, list[int]]] = {}
    pool = list(ranked[:POOL].tolist())
    for chosen in starts:
        while True:
            basis, _ = np.linalg.qr(unit[:, chosen])
            residual = y - basis @ (basis.T @ y)
            left = float(residual @ residual)
            if left < best.get(len(chosen), (np.inf, []))[0]:
                best[len(chosen)] = (left, sorted(chosen))
            if len(chosen) >= min(MAX_TERMS, unit.shape[1]) or left <= 1e-24 * max(
                1.0, float(y @ y)
            ):
                break
            leftover = 1 - np.sum((basis.T @ unit) ** 2, axis=0)
            with np.errstate(divide="ignore", invalid="ignore"):
                gain = (unit.T @ residual) ** 2 / leftover
            gain[chosen] = -np.inf
            gain[~(leftover > 1e-9)] = -np.inf
            pool += [k for k in np.argsort(-gain)[:POOL_PER_STEP].tolist() if k not in pool]
            chosen = chosen + [int(np.argmax(gain))]
    triple = _best_triple(unit, y, pool[:MAX_POOL])
    if triple is not None and triple[0] < best.get(3, (np.inf, []))[0]:
        best[3] = triple
    return [chosen for _, (_, chosen) in sorted(best.items())]


def _best_triple(
    unit: np.ndarray, y: np.ndarray, pool: list[int]
) -> tuple[float, list[int]] | None:
    """The three columns of the pool whose span is closest to y, over every triple (greedy
    paths miss sets such as {a², b², ab·cos c} when a proxy like √(ab) explains more alone)."""
    if len(pool) < 3:
        return None
    columns = unit[:, pool]
    gram, b = columns.T @ columns, columns.T @ y
    triples = np.array(list(itertools.combinations(range(len(pool)), 3)))
    grams = gram[triples[:, :, None], triples[:, None, :]]
    rhs = b[triples]
    usable = np.abs(np.linalg.det(grams)) > 1e-9
    explained = np.full(len(triples), -np.inf)
    solved = np.linalg.solve(grams[usable], rhs[usable][..., None])[..., 0]
    explained[usable] = np.sum(solved * rhs[usable], axis=1)
    k = int(np.argmax(explained))
    if not np.isfinite(explained[k]):
        return None
    return float(y @ y - explained[k]), sorted(pool[i] for i in triples[k])


def _best_pair(unit: np.ndarray, y: np.ndarray, first: np.ndarray) -> list[int]:
    """The two unit-norm columns whose span is closest to y, over every pair with one column in
    `first`: explained(i, j) = (b_i² + b_j² − 2 b_i b_j g_ij) / (1 − g_ij²)."""
    gram = unit[:, first].T @ unit
    b = unit.T @ y
    bi = b[first, None]
    denominator = 1 - gram**2
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = (bi**2 + b[None, :] ** 2 - 2 * bi * b[None, :] * gram) / denominator
    gain[~(denominator > 1e-9)] = -np.inf
    i, j = np.unravel_index(np.argmax(gain), gain.shape)
    return [int(first[i]), int(j)]


def _least_squares(A: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    coefficients, *_ = np.linalg.lstsq(A, y, rcond=None)
    residual = y - A @ coefficients
    return coefficients, float(residual @ residual)
