"""The network as an oracle: structure that splits a recovery problem into smaller ones (the steps
of AI Feynman, Udrescu & Tegmark 2020), each found by a cheap screen and used only after the
split has been checked on fresh points of the network.

    unused          ∂f/∂xi ≈ 0                          f(x) = g(x without xi)
    additive        ∂²f/∂xi∂xj = 0 across two groups    f = g(xA) + h(xB)
    multiplicative  the same for log|f|                  f = g(xA) · h(xB)
    symmetric       a·∂f/∂xi + b·∂f/∂xj = 0             f = g(xi − xj, …), g(xi/xj, …), …
    homogeneous     xi·∂f/∂xi + xj·∂f/∂xj = k·f         f = xj^k · g(xi/xj, …)
    linear          ∂²f/∂xi² = 0                        f = A(rest)·xi + B(rest)

Separability is screened with mixed second differences, f(a,b) + f(a',b') − f(a,b') − f(a',b),
which is the integral of ∂²f/∂xi∂xj over the rectangle: zero for every rectangle exactly when the
Hessian block is zero, and far less sensitive to the network's small wiggles than a pointwise
Hessian. Symmetries are screened on the network's gradient. Every accepted step records its
screen statistic and its verification error (relative to the output's spread).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import networkx as nx
import numpy as np
import sympy

from .oracle import PAIR_FORMS, Fixed, Problem, Scaled, Substituted, pair_range, variable

__all__ = ["SCREEN", "VERIFY", "Step", "find_step", "spread"]

SCREEN = 5e-2  # a screen statistic below this (relative to the output's spread) suggests structure
# f changes this little with a variable (relative to its spread) when it may not depend on it
UNUSED_SCREEN = 0.1
VERIFY = 1.5e-2  # a split is used only when it reproduces f within this, relative to its spread
POINTS = 256  # points per screen; verification uses twice as many fresh ones
MAX_DEGREE = 3  # homogeneity degrees tried: the half-integers up to this, 0 excepted (a ratio)


@dataclass(frozen=True)
class Step:
    """A verified split: the sub-problems, how their formulas recombine, and the evidence."""

    kind: str
    parts: tuple[Problem, ...]
    detail: tuple[Any, ...]  # what recombination needs (a constant, the pair and its symbol, …)
    screen: float
    error: float

    def recombine(self, formulas: Sequence[sympy.Expr]) -> sympy.Expr:
        return RECOMBINE[self.kind](formulas, *self.detail)

    def describe(self) -> str:
        return f"{self.kind} {DESCRIBE[self.kind](*self.detail)} (screen {self.screen:.1e}, verified to {self.error:.1e})"


def spread(values: np.ndarray) -> float:
    """The output's variation: its standard deviation (its magnitude when it barely varies)."""
    return float(np.std(values)) or float(np.sqrt(np.mean(values**2))) or 1.0


def _fixed(problem: Problem, free: Sequence[int]) -> Problem:
    """The problem over `free` variables, the others held at the box's center."""
    return Problem(
        Fixed(problem.oracle, tuple(free), tuple(problem.center)),
        tuple(problem.symbols[k] for k in free),
        tuple(problem.lo[k] for k in free),
        tuple(problem.hi[k] for k in free),
    )


def _verified(problem: Problem, rebuild: Callable[[np.ndarray], np.ndarray], seed: int) -> float:
    """How far a reconstruction is from f on fresh points, relative to f's spread."""
    X = problem.sample(2 * POINTS, seed + 7)
    truth = problem.values(X)
    with np.errstate(all="ignore"):
        error = float(np.sqrt(np.mean((rebuild(X) - truth) ** 2))) / spread(truth)
    return error if np.isfinite(error) else np.inf


def unused(problem: Problem, seed: int) -> Step | None:
    """A variable f does not depend on: gradient × range negligible everywhere."""
    X = problem.sample(POINTS, seed)
    scale = spread(problem.values(X))
    effect = np.sqrt(np.mean((problem.gradient(X) * problem.width) ** 2, axis=0)) / scale
    for k in np.argsort(effect):
        if effect[k] > UNUSED_SCREEN or len(problem.symbols) == 1:
            return None
        free = [m for m in range(len(problem.symbols)) if m != k]
        part = _fixed(problem, free)
        error = _verified(problem, partial(_without, part, free), seed)
        if error <= VERIFY:
            return Step("unused", (part,), (problem.symbols[k],), float(effect[k]), error)
    return None


def _without(part: Problem, free: list[int], X: np.ndarray) -> np.ndarray:
    return part.values(X[:, free])


def _interactions(
    problem: Problem, transform: Callable[[np.ndarray], np.ndarray], seed: int
) -> np.ndarray:
    """Mixed second differences of transform(f) for every pair, relative to its spread."""
    k = len(problem.symbols)
    X, Y = problem.sample(POINTS, seed), problem.sample(POINTS, seed + 1)
    with np.errstate(all="ignore"):
        base = transform(problem.values(X))
        scale = spread(base)
        matrix = np.zeros((k, k))
        for i, j in itertools.combinations(range(k), 2):
            moved = {}
            for columns in ((i,), (j,), (i, j)):
                Z = X.copy()
                Z[:, columns] = Y[:, columns]
                moved[columns] = transform(problem.values(Z))
            difference = base + moved[(i, j)] - moved[(i,)] - moved[(j,)]
            matrix[i, j] = matrix[j, i] = float(np.sqrt(np.mean(difference**2))) / scale
    return np.where(np.isfinite(matrix), matrix, np.inf)


def _groups(matrix: np.ndarray) -> list[list[int]]:
    """Connected groups of variables that interact (screen statistic above SCREEN)."""
    graph = nx.Graph()
    graph.add_nodes_from(range(len(matrix)))
    graph.add_edges_from(zip(*np.nonzero(matrix > SCREEN)))
    return sorted(sorted(c) for c in nx.connected_components(graph))


def separable(problem: Problem, kind: str, seed: int) -> Step | None:
    """f = g(xA) + h(xB) ("additive") or g(xA)·h(xB) ("multiplicative"), split at the box's
    center: g = f(xA, xB₀), h = f(xA₀, xB), and f₀ = f(xA₀, xB₀) added back or divided out."""
    if len(problem.symbols) < 2:
        return None
    center = problem.center[None, :]
    f0 = float(problem.values(center)[0])
    if kind == "multiplicative":
        probe = problem.values(problem.sample(POINTS, seed + 2))
        if not (np.all(probe > 0) or np.all(probe < 0)) or f0 == 0:
            return None
    transform = (lambda v: np.log(np.abs(v))) if kind == "multiplicative" else (lambda v: v)
    matrix = _interactions(problem, transform, seed)
    groups = _groups(matrix)
    if len(groups) < 2:
        return None
    first = groups[0]
    rest = [k for k in range(len(problem.symbols)) if k not in first]
    parts = (_fixed(problem, first), _fixed(problem, rest))
    join = (lambda a, b: a + b - f0) if kind == "additive" else (lambda a, b: a * b / f0)
    error = _verified(
        problem, lambda X: join(parts[0].values(X[:, first]), parts[1].values(X[:, rest])), seed
    )
    if error > VERIFY:
        return None
    across = max(matrix[i, j] for i in first for j in rest)
    return Step(kind, parts, (f0,), across, error)


def symmetric(problem: Problem, seed: int) -> Step | None:
    """f depends on xi and xj only through u = xi − xj, xi + xj, xi/xj, xi·xj or xi² + xj²:
    screened by a·∂f/∂xi + b·∂f/∂xj = 0 on the gradient, verified by evaluating f through u."""
    k = len(problem.symbols)
    if k < 2:
        return None
    X = problem.sample(POINTS, seed + 3)
    gradient = problem.gradient(X)
    weights = {
        "difference": lambda xi, xj: (1.0, 1.0),
        "sum": lambda xi, xj: (1.0, -1.0),
        "ratio": lambda xi, xj: (xi, xj),
        "product": lambda xi, xj: (xi, -xj),
        "squares": lambda xi, xj: (xj, -xi),
    }
    options = []
    for i, j in itertools.permutations(range(k), 2):
        for form, weight in weights.items():
            if not _pair_defined(form, problem.lo[i], problem.lo[j]) or (
                i > j and form in ("sum", "product", "squares")
            ):
                continue
            a, b = weight(X[:, i], X[:, j])
            terms = np.abs(a * gradient[:, i]) + np.abs(b * gradient[:, j])
            residual = a * gradient[:, i] + b * gradient[:, j]
            statistic = float(np.sqrt(np.mean(residual**2)) / (np.sqrt(np.mean(terms**2)) or 1))
            if statistic <= SCREEN:
                options.append((statistic, i, j, form))
    for statistic, i, j, form in sorted(options)[:3]:
        step = _substitute(problem, i, j, form, statistic, seed)
        if step is not None:
            return step
    return None


def homogeneous(problem: Problem, seed: int) -> Step | None:
    """f(λxi, λxj, …) = λ^k·f for a half-integer k ≠ 0 (what dimensional analysis finds when
    units are known: m·c²/√(1 − v²/c²) is c² times a function of v/c), screened by Euler's
    xi·∂f/∂xi + xj·∂f/∂xj = k·f on the gradient; then f/xj^k depends on xi/xj, which is
    verified like any symmetry."""
    count = len(problem.symbols)
    X = problem.sample(POINTS, seed + 5)
    f, gradient = problem.values(X), problem.gradient(X)
    options = []
    for i, j in itertools.combinations(range(count), 2):
        if problem.lo[i] <= 0 or problem.lo[j] <= 0:
            continue
        euler = X[:, i] * gradient[:, i] + X[:, j] * gradient[:, j]
        degree = round(2 * float(euler @ f) / float(f @ f or 1)) / 2
        if degree == 0 or abs(degree) > MAX_DEGREE:
            continue
        terms = np.abs(X[:, i] * gradient[:, i]) + np.abs(X[:, j] * gradient[:, j])
        residual = euler - degree * f
        statistic = float(np.sqrt(np.mean(residual**2)) / (np.sqrt(np.mean(terms**2)) or 1))
        if statistic <= SCREEN:
            options.append((statistic, i, j, degree))
    for statistic, i, j, degree in sorted(options)[:3]:
        scaled = replace(problem, oracle=Scaled(problem.oracle, j, degree))
        step = _substitute(scaled, i, j, "ratio", statistic, seed)
        if step is not None:
            u, _, pair = step.detail
            return Step("homogeneous", step.parts, (u, pair, degree), statistic, step.error)
    return None


def _pair_defined(form: str, lo_i: float, lo_j: float) -> bool:
    """Whether u = form(xi, xj) can stand for the pair on the box: xi/xj needs xj > 0; a
    product or a sum of squares needs both ≥ 0 (u is then monotonic in xi, and a variable
    ranging over 0..1, as the refractive index terms nα do, still qualifies)."""
    if form == "ratio":
        return lo_i >= 0 and lo_j > 0
    if form in ("product", "squares"):
        return lo_i >= 0 and lo_j >= 0
    return True


def _substitute(
    problem: Problem, i: int, j: int, form: str, statistic: float, seed: int
) -> Step | None:
    pair_lo, pair_hi = (problem.lo[i], problem.lo[j]), (problem.hi[i], problem.hi[j])
    u_lo, u_hi = pair_range(form, pair_lo, pair_hi)
    keep = [m for m in range(len(problem.symbols)) if m != j]
    lo = [u_lo if m == i else problem.lo[m] for m in keep]
    hi = [u_hi if m == i else problem.hi[m] for m in keep]
    u = variable(f"_{form}_{problem.symbols[i]}_{problem.symbols[j]}", u_lo)
    width = tuple(np.asarray(hi) - np.asarray(lo))
    oracle = Substituted(problem.oracle, i, j, form, pair_lo, pair_hi, width)
    symbols = tuple(u if m == i else problem.symbols[m] for m in keep)
    part = Problem(oracle, symbols, tuple(lo), tuple(hi))
    combine = sympy.lambdify(sympy.symbols("a b"), PAIR_FORMS[form](*sympy.symbols("a b")))

    def through_u(X: np.ndarray) -> np.ndarray:
        Z = X[:, keep].copy()
        Z[:, keep.index(i)] = combine(X[:, i], X[:, j])
        return part.values(Z)

    error = _verified(problem, through_u, seed)
    if error > VERIFY:
        return None
    pair = (problem.symbols[i], problem.symbols[j])
    return Step("symmetric", (part,), (u, form, pair), statistic, error)


@dataclass(frozen=True)
class Slope:
    """(f(xi = b) − f(xi = a)) / (b − a) over the other variables: A when f = A·xi + B."""

    parent: Any
    i: int
    a: float
    b: float

    def _at(self, X: np.ndarray, value: float) -> np.ndarray:
        return np.insert(X, self.i, value, axis=1)

    def values(self, X: np.ndarray) -> np.ndarray:
        high, low = self.parent.values(self._at(X, self.b)), self.parent.values(self._at(X, self.a))
        return (high - low) / (self.b - self.a)

    def gradient(self, X: np.ndarray) -> np.ndarray:
        high = self.parent.gradient(self._at(X, self.b))
        low = self.parent.gradient(self._at(X, self.a))
        return np.delete((high - low) / (self.b - self.a), self.i, axis=1)


def linear(problem: Problem, seed: int) -> Step | None:
    """f = A(rest)·(xi − c) + B(rest), c the middle of xi's range: screened by the second
    difference along xi, verified by rebuilding f from A and B on fresh points."""
    k = len(problem.symbols)
    if k < 2:
        return None
    X = problem.sample(POINTS, seed + 4)
    scale = spread(problem.values(X))
    options = []
    for i in range(k):
        ends = []
        for value in (problem.lo[i], problem.center[i], problem.hi[i]):
            Z = X.copy()
            Z[:, i] = value
            ends.append(problem.values(Z))
        statistic = float(np.sqrt(np.mean((ends[0] + ends[2] - 2 * ends[1]) ** 2))) / scale
        if statistic <= SCREEN:
            options.append((statistic, i))
    for statistic, i in sorted(options):
        rest = [m for m in range(k) if m != i]
        symbols = tuple(problem.symbols[m] for m in rest)
        box = (tuple(problem.lo[m] for m in rest), tuple(problem.hi[m] for m in rest))
        slope = Problem(Slope(problem.oracle, i, problem.lo[i], problem.hi[i]), symbols, *box)
        section = _fixed(problem, rest)
        c = float(problem.center[i])
        error = _verified(problem, partial(_rebuild_linear, slope, section, i, rest, c), seed)
        if error <= VERIFY:
            return Step("linear", (slope, section), (problem.symbols[i], c), statistic, error)
    return None


def _rebuild_linear(
    slope: Problem, section: Problem, i: int, rest: list[int], c: float, X: np.ndarray
) -> np.ndarray:
    return slope.values(X[:, rest]) * (X[:, i] - c) + section.values(X[:, rest])


RECOMBINE: dict[str, Callable[..., sympy.Expr]] = {
    "unused": lambda formulas, symbol: formulas[0],
    "additive": lambda formulas, f0: formulas[0] + formulas[1] - f0,
    "multiplicative": lambda formulas, f0: formulas[0] * formulas[1] / f0,
    "symmetric": lambda formulas, u, form, pair: formulas[0].xreplace({u: PAIR_FORMS[form](*pair)}),
    "homogeneous": lambda formulas, u, pair, k: (
        pair[1] ** sympy.nsimplify(k) * RECOMBINE["symmetric"](formulas, u, "ratio", pair)
    ),
    "linear": lambda formulas, symbol, c: formulas[0] * (symbol - c) + formulas[1],
}
DESCRIBE: dict[str, Callable[..., str]] = {
    "unused": lambda symbol: f"{symbol} (f does not depend on it)",
    "additive": lambda f0: "f = g + h",
    "multiplicative": lambda f0: "f = g·h",
    "symmetric": lambda u, form, pair: f"f depends on {PAIR_FORMS[form](*pair)}",
    "homogeneous": lambda u, pair, k: (
        f"f = {pair[1] ** sympy.nsimplify(k)}·g({PAIR_FORMS['ratio'](*pair)}, …)"
    ),
    "linear": lambda symbol, c: f"f = A·{symbol} + B",
}

# the steps in the order they are tried: cheapest and most reducing first
STEPS: tuple[tuple[str, Callable[[Problem, int], Step | None]], ...] = (
    ("unused", unused),
    ("additive", lambda p, seed: separable(p, "additive", seed)),
    ("multiplicative", lambda p, seed: separable(p, "multiplicative", seed)),
    ("symmetric", symmetric),
    ("homogeneous", homogeneous),
    ("linear", linear),
)


def find_step(problem: Problem, seed: int) -> Step | None:
    """The first step (in STEPS order) that applies to the problem and survives verification."""
    for _, test in STEPS:
        step = test(problem, seed)
        if step is not None:
            return step
    return None
