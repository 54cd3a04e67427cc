"""Dimensional analysis, AI Feynman's first step: with a physical unit on every variable and on
the output, a law is y = x^p · g(π1, …, πk) where x^p has the output's unit and the πi are the
dimensionless groups (the null space of the unit-exponent matrix). The search then recovers g, a
function of k < n variables, and the formula is mapped back to the inputs. The reduction is used
only after the network has been checked to be dimensionally consistent on fresh points.

    m kg, v m/s → E J:     p = (1, 2), no group:        E = C · m · v²
    x0 m, x1 m → d m:      p = (1, 0), π = x1/x0:       d = x0 · g(x1/x0)

The groups come from the reduced row echelon form: each holds its own variable to the power 1
(the others from the pivot columns), so holding the pivot variables at the centre of the box
turns a value of each group into a value of its own variable, and the network is queried there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import sympy
from nnc.physical_units import Unit

from .oracle import Oracle, Problem, numeric_gradient, variable
from .recover import Recovery, Trail, problem_data, recover
from .selection import Scored, shortlist
from .structure import VERIFY, spread

__all__ = ["Dimensionless", "Reduction", "recover_with_units", "reduce"]

POINTS = 512  # fresh points of the box that check the reduction
ENOUGH = 64  # of them at least this many must map into the reduced problem's box


@dataclass(frozen=True)
class Dimensionless:
    """g(π) = f(x) / x^p with the pivot variables at `at` and each group's own variable solved
    from its value."""

    parent: Oracle
    own: tuple[int, ...]  # the parent variable each group holds to the power 1
    factor: tuple[float, ...]  # group i = x[own i] · factor i at the pivots' values
    scale: float  # x^p at the pivots' values
    at: tuple[float, ...]
    width: tuple[float, ...]  # the groups' ranges, for finite differences

    def _embed(self, U: np.ndarray) -> np.ndarray:
        full = np.tile(np.asarray(self.at, np.float64), (len(U), 1))
        full[:, list(self.own)] = U / np.asarray(self.factor)
        return full

    def values(self, U: np.ndarray) -> np.ndarray:
        return self.parent.values(self._embed(U)) / self.scale

    def gradient(self, U: np.ndarray) -> np.ndarray:
        return numeric_gradient(self.values, U, np.asarray(self.width))


@dataclass(frozen=True)
class Reduction:
    """The problem in dimensionless groups and how its formulas map back to the inputs."""

    problem: Problem | None  # None when no group is left: g is a constant
    scale: sympy.Expr  # x^p over the root symbols
    groups: tuple[sympy.Expr, ...]  # each group over the root symbols
    error: float  # how far x^p · g(π(x)) is from f on fresh points, relative to f's spread

    def restore(self, expr: sympy.Expr) -> sympy.Expr:
        symbols = self.problem.symbols if self.problem is not None else ()
        return self.scale * expr.xreplace(dict(zip(symbols, self.groups)))

    def describe(self) -> str:
        groups = ", ".join(str(g) for g in self.groups) or "none"
        return (
            f"dimensional analysis: f = {self.scale} · g({groups}) (verified to {self.error:.1e})"
        )


def reduce(problem: Problem, units: Sequence[Unit], output: Unit, seed: int) -> Reduction | str:
    """The verified reduction of the problem to dimensionless groups, or why there is none."""
    symbols = problem.symbols
    matrix = sympy.Matrix([list(u.exponents) for u in units]).T  # dimensions × variables
    target = sympy.Matrix(list(output.exponents))
    _, pivots = matrix.rref()
    if not pivots and not any(output.exponents):
        return "every variable and the output are dimensionless: nothing to reduce"
    try:
        if not pivots:
            raise ValueError("no unit to combine")
        solution, _ = matrix[:, list(pivots)].gauss_jordan_solve(target)
    except ValueError:
        return (
            f"the output's unit {output} is no product of powers of the inputs' units "
            f"({', '.join(str(u) for u in units)}): a dimensional constant is missing"
        )
    powers = dict(zip(pivots, solution))
    nullspace = matrix.nullspace()
    low = [
        str(symbols[k])
        for k in range(len(symbols))
        if not _powers_defined(
            problem.lo[k],
            problem.hi[k],
            [powers.get(k, sympy.Integer(0))] + [v[k] for v in nullspace],
        )
        or (k in pivots and problem.center[k] == 0)
    ]
    if low:
        return (
            f"{', '.join(low)} may be zero or negative: the groups' powers of them are not "
            "defined everywhere"
        )
    scale = sympy.Mul(*[symbols[k] ** powers[k] for k in pivots])
    center = problem.center
    own, factors, groups = [], [], []
    for vector in nullspace:
        k = next(m for m in range(len(symbols)) if m not in pivots and vector[m] == 1)
        own.append(k)
        groups.append(sympy.Mul(*[symbols[m] ** vector[m] for m in range(len(symbols))]))
        factors.append(float(np.prod([center[m] ** float(vector[m]) for m in pivots])))
    scale_at = float(np.prod([center[k] ** float(powers[k]) for k in pivots]))
    reduced = None
    if groups:
        names = _fresh_names(len(groups), {str(s) for s in symbols})
        ends = [sorted((problem.lo[k] * f, problem.hi[k] * f)) for k, f in zip(own, factors)]
        lo, hi = [low for low, _ in ends], [high for _, high in ends]
        oracle = Dimensionless(
            problem.oracle,
            tuple(own),
            tuple(factors),
            scale_at,
            tuple(float(c) for c in center),
            tuple(h - l for l, h in zip(lo, hi)),
        )
        reduced = Problem(
            oracle, tuple(variable(n, l) for n, l in zip(names, lo)), tuple(lo), tuple(hi)
        )
    reduction = Reduction(reduced, scale, tuple(groups), math.inf)
    error = _verified(problem, reduction, seed)
    if error is None:
        return (
            f"fewer than {ENOUGH} of {POINTS} points of the box have groups inside the reduced "
            "box: too few to check the network's dimensional consistency"
        )
    if not error <= VERIFY:
        return (
            f"the network is not dimensionally consistent: f = {scale} · g(…) misses it by "
            f"{error:.1e} of its spread (units wrong, or a dimensional constant missing)"
        )
    return replace(reduction, error=error)


def _powers_defined(lo: float, hi: float, exponents: list[sympy.Expr]) -> bool:
    """Whether every power x^e is defined on [lo, hi]: any e above zero, whole ones below it,
    whole nonnegative ones where the range holds zero."""
    if lo > 0:
        return True
    if hi < 0:
        return all(e.is_integer for e in exponents)
    return all(e.is_integer and e >= 0 for e in exponents)


def _fresh_names(count: int, taken: set[str]) -> list[str]:
    """Names for the groups (pi1, pi2, … with underscores until none is an input's name)."""
    prefix = "pi_"
    while any(name.startswith(prefix) for name in taken):
        prefix = "_" + prefix
    return [f"{prefix}{i + 1}" for i in range(count)]


def _verified(problem: Problem, reduction: Reduction, seed: int) -> float | None:
    """How far x^p · g(π(x)) is from f on fresh points of the whole box (those whose groups fall
    in the reduced box), relative to f's spread: the network's dimensional consistency; None
    when too few of them do."""
    X = problem.sample(POINTS, seed + 11)
    arguments = [X[:, k] for k in range(len(problem.symbols))]
    scale = sympy.lambdify(problem.symbols, reduction.scale, "numpy")(*arguments) * np.ones(len(X))
    truth = problem.values(X)
    if reduction.problem is None:
        rebuilt = _constant(truth, scale) * scale
    else:
        reduced = reduction.problem
        U = np.stack(
            [
                sympy.lambdify(problem.symbols, g, "numpy")(*arguments) * np.ones(len(X))
                for g in reduction.groups
            ],
            axis=1,
        )
        inside = np.all((U >= np.asarray(reduced.lo)) & (U <= np.asarray(reduced.hi)), axis=1)
        if inside.sum() < ENOUGH:
            return None
        X, U, scale, truth = (
            X[inside],
            U[inside],
            scale[inside] * np.ones(inside.sum()),
            truth[inside],
        )
        rebuilt = scale * reduced.values(U)
    with np.errstate(all="ignore"):
        error = float(np.sqrt(np.mean((rebuilt - truth) ** 2))) / spread(truth)
    return error if np.isfinite(error) else math.inf


def _constant(truth: np.ndarray, scale: np.ndarray) -> float:
    """g when no group is left: the median of f / x^p where x^p is not zero."""
    with np.errstate(all="ignore"):
        ratio = truth / scale
    return float(np.median(ratio[np.isfinite(ratio)])) if np.isfinite(ratio).any() else math.nan


def recover_with_units(
    problem: Problem,
    units: Sequence[Unit],
    output: Unit,
    recovery: Recovery,
    seed: int,
    searches: int,
) -> tuple[list[Scored], Trail] | str:
    """Candidates for the problem recovered in its dimensionless groups and measured on the
    problem itself, with the steps taken; or why dimensional analysis does not apply."""
    reduction = reduce(problem, units, output, seed)
    if isinstance(reduction, str):
        return reduction
    if reduction.problem is None:
        trail = Trail()
        X = problem.sample(recovery.samples, seed)
        arguments = [X[:, k] for k in range(len(problem.symbols))]
        scale = sympy.lambdify(problem.symbols, reduction.scale, "numpy")(*arguments)
        exprs = [sympy.Float(_constant(problem.values(X), scale)) * reduction.scale]
    else:
        front, trail = recover(reduction.problem, recovery, seed, searches)
        exprs = [reduction.restore(candidate.expr) for candidate in front]
    trail.lines.insert(0, reduction.describe())
    data = problem_data(problem, recovery.samples, seed)
    return shortlist(exprs, problem.symbols, *data, clean_all=True), trail
