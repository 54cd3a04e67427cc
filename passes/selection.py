"""Choosing among symbolic-regression candidates: clean each one, measure it against the network
on validation samples, and keep the simplest that passes the gate and fits nearly as well as the
best (shared by whole-network regression and module distillation)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy
from nnc.closed_form import readable
from nnc.fidelity import Gate, RelativeErrors, relative_errors
from nnc.options import Options
from nnc.progress import Progress

from .constants import snap_constants
from .engines import SearchSettings, get_engine

__all__ = [
    "REGRESSION_DATA",
    "Regression",
    "Scored",
    "choose",
    "describe_front",
    "pareto_front",
    "regress",
    "score",
]


# PassRecord.data key under which sr and distill keep their searches (one per output) for the report
REGRESSION_DATA = "symbolic regression"


@dataclass(frozen=True)
class Scored:
    """A cleaned candidate and its errors against the network on the validation samples."""

    expr: sympy.Expr
    complexity: int  # sympy operations + leaves, the same measure for every engine
    errors: RelativeErrors

    @property
    def rel_rmse(self) -> float:
        return self.errors.rel_rmse

    @property
    def max_rel(self) -> float:
        return self.errors.max_rel


def score(
    expr: sympy.Expr,
    symbols: list[sympy.Symbol],
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
) -> Scored | None:
    """Simplify, snap and refit on the training samples; measure on the validation samples."""
    try:
        cleaned = snap_constants(sympy.simplify(expr), symbols, X_train, y_train)
        if not cleaned.atoms(sympy.Float) and sympy.count_ops(cleaned) <= MAX_SIMPLIFY_OPS:
            cleaned = sympy.simplify(cleaned)  # snapped constants often cancel
        with np.errstate(all="ignore"):
            values = np.broadcast_to(
                sympy.lambdify(symbols, cleaned, "numpy")(*X_valid.T), y_valid.shape
            ).astype(np.float64)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    if not np.all(np.isfinite(values)):
        return None
    complexity = int(sympy.count_ops(cleaned)) + len(cleaned.atoms(sympy.Symbol, sympy.Number))
    return Scored(cleaned, complexity, relative_errors(values, y_valid))


MAX_SIMPLIFY_OPS = 60  # sympy.simplify gets slow on larger expressions
# A candidate this many times worse than the best on the front is not the law: its error is the
# formula's, not the network's own approximation error.
NEAR_BEST = 3.0


def choose(front: list[Scored], gate: Gate) -> Scored | None:
    """The simplest candidate that passes the gate and fits nearly as well as the best."""
    passing = [s for s in front if gate.accepts_formula(s.errors)]
    if not passing:
        return None
    best = min(s.rel_rmse for s in passing)
    return next(s for s in passing if s.rel_rmse <= NEAR_BEST * best)


def pareto_front(scored: list[Scored]) -> list[Scored]:
    """Candidates no other beats on both complexity and error, simplest first."""
    front: list[Scored] = []
    for candidate in sorted(scored, key=lambda s: (s.complexity, s.rel_rmse)):
        if not front or candidate.rel_rmse < front[-1].rel_rmse:
            front.append(candidate)
    return front


def describe_front(front: list[Scored]) -> str:
    """One line per report: complexity, errors and formula of each Pareto-optimal candidate."""
    return "Pareto front (complexity, rel RMSE, max rel error): " + "; ".join(
        f"{s.complexity}, {s.rel_rmse:.1e}, {s.max_rel:.1e}: {readable(s.expr)}" for s in front
    )


@dataclass(frozen=True)
class Regression:
    """One output column's search: how many candidates, the Pareto front, the choice (or None)."""

    candidates: int
    front: list[Scored]
    chosen: Scored | None
    seconds: float

    def to_json(self) -> dict[str, Any]:
        """The search as the report shows it: the front, simplest first, and which one was chosen."""
        return {
            "candidates": self.candidates,
            "seconds": self.seconds,
            "front": [
                {
                    "formula": readable(s.expr),
                    "complexity": s.complexity,
                    "rel_rmse": s.rel_rmse,
                    "max_rel_error": s.max_rel,
                }
                for s in self.front
            ],
            "chosen": self.front.index(self.chosen) if self.chosen is not None else None,
        }


def regress(
    label: str,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
    names: list[str],
    options: Options,
    gate: Gate,
    progress: Progress | None = None,
) -> Regression:
    """Ask the chosen engine (and the basis engine, with `basis_too`) for candidates for y ≈ f(X),
    score them on the validation samples and choose; `progress` shows the search as it runs."""
    progress = progress or Progress()
    engine = get_engine(options.engine)
    settings = SearchSettings(
        options.operators,
        options.max_complexity,
        options.sr_seconds,
        options.sr_threads,
        options.seed,
    )
    start = time.monotonic()
    with progress.task(label, options.sr_seconds):
        progress(f"{engine.name} search")
        candidates = engine.fit(X_train, y_train, names, settings)
        if options.basis_too and engine.name != "basis":
            progress("basis search")
            candidates += get_engine("basis").fit(X_train, y_train, names, settings)
        symbols = [sympy.Symbol(n) for n in names]
        scored: list[Scored] = []
        for k, candidate in enumerate(candidates):
            progress(f"scoring candidate {k + 1}/{len(candidates)} on validation samples")
            found = score(candidate.expr, symbols, X_train, y_train, X_valid, y_valid)
            if found is not None:
                scored.append(found)
                best = min(scored, key=lambda s: s.rel_rmse)
                progress.best(f"{readable(best.expr)}  (rel RMSE {best.rel_rmse:.1e})")
    front = pareto_front(scored)
    chosen = choose(front, gate)
    return Regression(len(candidates), front, chosen, time.monotonic() - start)
