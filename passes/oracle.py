"""The function being recovered as something to query anywhere in its box: values and gradients.

The root is one output of the network over its free input elements; separations, substitutions
and target transforms derive sub-problems from it. Every oracle is a small frozen dataclass of
numbers and other oracles, so a sub-problem can be sent to another process as long as the root's
network callables can.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import sympy
from scipy.stats import qmc

__all__ = [
    "Fixed",
    "NetworkOutput",
    "Oracle",
    "Problem",
    "Scaled",
    "Substituted",
    "numeric_gradient",
    "own",
    "variable",
]

FD_STEP = 1e-3  # central-difference step, relative to each variable's range


def variable(name: str, low: float) -> sympy.Symbol:
    """A problem's variable: known positive when its range is (so √(x²) is x), real otherwise."""
    return sympy.Symbol(name, positive=True) if low > 0 else sympy.Symbol(name, real=True)


def own(expr: sympy.Expr, symbols: Sequence[sympy.Symbol]) -> sympy.Expr:
    """An engine's formula (plain symbols named like the variables) over the problem's symbols."""
    return expr.xreplace({sympy.Symbol(s.name): s for s in symbols})


class Oracle(Protocol):
    """f over columns X (n, variables) → values (n,) and gradient (n, variables)."""

    def values(self, X: np.ndarray) -> np.ndarray: ...

    def gradient(self, X: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Problem:
    """An oracle over named variables, each in a range [lo, hi]."""

    oracle: Oracle
    symbols: tuple[sympy.Symbol, ...]
    lo: tuple[float, ...]
    hi: tuple[float, ...]

    @property
    def width(self) -> np.ndarray:
        return np.asarray(self.hi) - np.asarray(self.lo)

    @property
    def center(self) -> np.ndarray:
        return (np.asarray(self.hi) + np.asarray(self.lo)) / 2

    def sample(self, n: int, seed: int) -> np.ndarray:
        """n points spread evenly over the box (scrambled Sobol, deterministic under the seed)."""
        unit = qmc.Sobol(len(self.symbols), scramble=True, seed=seed).random_base2(
            math.ceil(math.log2(n))
        )[:n]
        return np.asarray(self.lo) + unit * self.width

    def values(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.oracle.values(X), dtype=np.float64)

    def gradient(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.oracle.gradient(X), dtype=np.float64)


def numeric_gradient(
    values: Callable[[np.ndarray], np.ndarray], X: np.ndarray, width: np.ndarray
) -> np.ndarray:
    """Central differences with a step of FD_STEP of each variable's range."""
    columns = []
    for k, h in enumerate(np.asarray(width) * FD_STEP):
        shift = np.zeros(X.shape[1])
        shift[k] = h
        columns.append((values(X + shift) - values(X - shift)) / (2 * h))
    return np.stack(columns, axis=1)


@dataclass(frozen=True)
class NetworkOutput:
    """One output element of the network as a function of its free input elements."""

    network: Callable[[list[np.ndarray]], np.ndarray]
    network_gradient: Callable[[list[np.ndarray]], np.ndarray] | None
    # per model input: (shape, numpy dtype name, the flat sample with constants filled in)
    inputs: tuple[tuple[tuple[int, ...], str, tuple[float, ...]], ...]
    layout: tuple[tuple[int, int], ...]  # free variable → (input position, flat element)
    output: int
    width: tuple[float, ...]  # the variables' ranges, for finite differences

    def _points(self, X: np.ndarray) -> list[np.ndarray]:
        arrays = [np.tile(np.asarray(flat, np.float64), (len(X), 1)) for _, _, flat in self.inputs]
        for k, (position, element) in enumerate(self.layout):
            arrays[position][:, element] = X[:, k]
        return [
            a.reshape(len(X), *shape).astype(dtype)
            for a, (shape, dtype, _) in zip(arrays, self.inputs)
        ]

    def values(self, X: np.ndarray) -> np.ndarray:
        return self.network(self._points(X)).reshape(len(X), -1)[:, self.output]

    def gradient(self, X: np.ndarray) -> np.ndarray:
        if self.network_gradient is None:
            return numeric_gradient(self.values, X, np.asarray(self.width))
        full = self.network_gradient(self._points(X))[:, self.output, :]
        offsets = np.cumsum([0] + [int(np.prod(shape)) for shape, _, _ in self.inputs])
        return full[:, [offsets[p] + e for p, e in self.layout]]


@dataclass(frozen=True)
class Fixed:
    """The parent with some variables held at given values; the others, in order, stay free."""

    parent: Oracle
    free: tuple[int, ...]
    at: tuple[float, ...]  # a value for every parent variable (free ones are overwritten)

    def _embed(self, X: np.ndarray) -> np.ndarray:
        full = np.tile(np.asarray(self.at, np.float64), (len(X), 1))
        full[:, list(self.free)] = X
        return full

    def values(self, X: np.ndarray) -> np.ndarray:
        return self.parent.values(self._embed(X))

    def gradient(self, X: np.ndarray) -> np.ndarray:
        return self.parent.gradient(self._embed(X))[:, list(self.free)]


# A pair substitution: u = combine(xi, xj), and the point (xi, xj) of the box used for a value
# of u (the middle of the segment of the level set inside the box, so every u is reached).
PAIR_FORMS: dict[str, Callable[[sympy.Expr, sympy.Expr], sympy.Expr]] = {
    "difference": lambda a, b: a - b,
    "sum": lambda a, b: a + b,
    "ratio": lambda a, b: a / b,
    "product": lambda a, b: a * b,
    "squares": lambda a, b: a**2 + b**2,
}


def pair_range(kind: str, lo: Sequence[float], hi: Sequence[float]) -> tuple[float, float]:
    """The range of u over the box of (xi, xj)."""
    corners = [
        float(sympy.lambdify(sympy.symbols("a b"), PAIR_FORMS[kind](*sympy.symbols("a b")))(a, b))
        for a in (lo[0], hi[0])
        for b in (lo[1], hi[1])
    ]
    return min(corners), max(corners)


def pair_point(
    kind: str, u: np.ndarray, lo: Sequence[float], hi: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """(xi, xj) inside the box with combine(xi, xj) = u: xj in the middle of its feasible
    interval, xi solved from u (the pair forms are monotonic in xi on the boxes they apply to)."""
    (a0, a1), (b0, b1) = (lo[0], hi[0]), (lo[1], hi[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "difference":
            low, high = np.maximum(b0, a0 - u), np.minimum(b1, a1 - u)
        elif kind == "sum":
            low, high = np.maximum(b0, u - a1), np.minimum(b1, u - a0)
        elif kind == "ratio":
            low, high = np.maximum(b0, a0 / u), np.minimum(b1, a1 / u)
        elif kind == "product":  # xi may start at 0: then any xj ≥ u / a1 will do
            low, high = np.maximum(b0, u / a1), np.minimum(b1, u / a0) if a0 > 0 else b1
        else:
            low = np.sqrt(np.maximum(b0**2, u - a1**2))
            high = np.sqrt(np.minimum(b1**2, u - a0**2))
    xj = (low + high) / 2
    solve = {
        "difference": lambda: u + xj,
        "sum": lambda: u - xj,
        "ratio": lambda: u * xj,
        "product": lambda: u / xj,
        "squares": lambda: np.sqrt(np.maximum(u - xj**2, 0.0)),
    }
    return np.clip(solve[kind](), a0, a1), xj


@dataclass(frozen=True)
class Substituted:
    """The parent with variables i, j replaced by one variable u = combine(xi, xj), placed where
    xi was (xj's column is dropped)."""

    parent: Oracle
    i: int
    j: int
    kind: str
    pair_lo: tuple[float, float]
    pair_hi: tuple[float, float]
    width: tuple[float, ...]  # the new variables' ranges, for finite differences

    def _embed(self, X: np.ndarray) -> np.ndarray:
        keep = [k for k in range(X.shape[1] + 1) if k != self.j]
        full = np.zeros((len(X), X.shape[1] + 1))
        position = keep.index(self.i)
        full[:, keep] = X
        full[:, self.i], full[:, self.j] = pair_point(
            self.kind, X[:, position], self.pair_lo, self.pair_hi
        )
        return full

    def values(self, X: np.ndarray) -> np.ndarray:
        return self.parent.values(self._embed(X))

    def gradient(self, X: np.ndarray) -> np.ndarray:
        return numeric_gradient(self.values, X, np.asarray(self.width))


@dataclass(frozen=True)
class Scaled:
    """The parent divided by x_j^k (x_j > 0): of degree 0 in a pair when the parent is
    homogeneous of degree k in it."""

    parent: Oracle
    j: int
    k: float

    def values(self, X: np.ndarray) -> np.ndarray:
        return self.parent.values(X) / X[:, self.j] ** self.k

    def gradient(self, X: np.ndarray) -> np.ndarray:
        scale = X[:, self.j] ** self.k
        gradient = self.parent.gradient(X) / scale[:, None]
        gradient[:, self.j] -= self.k * self.parent.values(X) / (scale * X[:, self.j])
        return gradient
