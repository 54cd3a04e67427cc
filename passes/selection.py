"""Choosing among candidate formulas: measure each against the network on validation samples,
clean the promising ones (snap constants, refit the rest), keep the Pareto front (complexity vs
error), and choose — a law in auto mode, the simplest passing fit when approximations are asked
for (shared by whole-network recovery and module distillation)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import sympy
from nnc.closed_form import readable
from nnc.fidelity import Gate, RelativeErrors, relative_errors
from nnc.options import Options
from nnc.pipeline import PassContext
from nnc.progress import Progress

from .constants import constant_bits, nearest_simple, real_values, snap_constants
from .engines import SearchSettings, get_engine, prepare

__all__ = [
    "REGRESSION_DATA",
    "Regression",
    "RegressionJob",
    "Scored",
    "best_tradeoff",
    "choose",
    "column_jobs",
    "complexity",
    "cost",
    "describe_front",
    "measure",
    "pareto_front",
    "regress",
    "regress_job",
    "run_searches",
    "score",
    "search_settings",
    "shortlist",
    "simplified",
]

Job = TypeVar("Job")
Result = TypeVar("Result")

# PassRecord.data key under which sr and distill keep their searches (one per output) for the report
REGRESSION_DATA = "symbolic regression"

MAX_SIMPLIFY_OPS = 25  # sympy.simplify gets slow on larger expressions
CLEAN = 6  # candidates cleaned per shortlist: the front's best trade-offs
# a candidate defined on this share of the points may be cleaned (its refitted constants may
# make it defined everywhere); it joins the front only once it is
DEFINED = 0.95
# In approximate mode, a candidate this many times worse than the best passing one is not chosen:
# its error is the formula's, not the network's own approximation error.
NEAR_BEST = 3.0
# The trade-off between error and size (cost): one unit of size (a node, or BITS_PER_NODE bits
# of constants: a fitted float is two) must buy SIZE_COST decades of error. Errors below
# NOISE_FLOOR (of the output's spread) count as equal: there a better fit only follows the
# network's own wiggles.
SIZE_COST = 0.08
BITS_PER_NODE = 8.0
NOISE_FLOOR = 1e-3
# A candidate without one of its factors or terms is worth cleaning when it leaves at most this
# many times the candidate's unexplained spread (see _trimmed).
TRIM_SLACK = 4.0
ROUNDING = 2e-2  # how far a fitted constant may be from the simple number it is rounded to
ROUNDED = 18  # candidates rounded per shortlist: those closest to the network
SIMPLIFY_MARGIN = 0.5  # a rounded candidate this far above the best cost is not simplified


@dataclass(frozen=True)
class Scored:
    """A candidate and its errors against the network on the validation samples."""

    expr: sympy.Expr
    complexity: int  # sympy operations + leaves, the same measure for every engine
    errors: RelativeErrors

    @property
    def rel_rmse(self) -> float:
        return self.errors.rel_rmse

    @property
    def max_rel(self) -> float:
        return self.errors.max_rel

    @property
    def rel_spread(self) -> float:
        return self.errors.rel_spread

    @property
    def free_constants(self) -> int:
        """Constants the search fitted that no simple number replaced."""
        return len(self.expr.atoms(sympy.Float))

    @property
    def constant_bits(self) -> float:
        """The description length of its constants (constants.constant_bits)."""
        return constant_bits(self.expr)

    @property
    def size(self) -> float:
        """Complexity plus the constants' description, BITS_PER_NODE bits counting as a node:
        the same formula with 1/π is smaller than with 0.3183 (or 7/22)."""
        return self.complexity + self.constant_bits / BITS_PER_NODE


def complexity(expr: sympy.Expr) -> int:
    """Nodes of the expression tree, where a constant (2, π, 1/(4π), 0.37: a product's or a sum's
    numeric parts together) is one leaf and a power with a rational exponent (x², √x, 1/x) one
    unary operation, like sin or exp."""
    if not expr.free_symbols:
        return 1
    if expr.is_Atom:
        return 1
    if isinstance(expr, sympy.Pow) and expr.exp.is_Rational:
        return 1 + complexity(expr.base)
    parts = [a for a in expr.args if a.free_symbols]
    constant = len(parts) < len(expr.args)  # the numeric factors or terms, taken together
    return 1 + constant + sum(complexity(a) for a in parts)


def measure(
    expr: sympy.Expr,
    symbols: Sequence[sympy.Symbol],
    X: np.ndarray,
    y: np.ndarray,
    defined: float = 1.0,
) -> Scored | None:
    """The candidate's errors on (X, y); None when it cannot be evaluated there. With
    `defined` < 1, errors on the points where it is defined, when they are at least that share
    (to rank a fitted formula whose square root dips below zero near a zero of the law)."""
    if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo, sympy.I):
        return None
    try:
        with np.errstate(all="ignore"):
            values = real_values(sympy.lambdify(list(symbols), expr, "numpy")(*X.T), y.shape)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError, NameError, KeyError):
        return None
    finite = np.isfinite(values)
    if not finite.all() and finite.mean() >= defined:
        values, y = values[finite], y[finite]
    errors = relative_errors(values, y)
    if not math.isfinite(errors.rel_rmse):
        return None
    return Scored(expr, complexity(expr), errors)


def score(
    expr: sympy.Expr,
    symbols: Sequence[sympy.Symbol],
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
    compound: bool = True,
) -> Scored | None:
    """Simplify, snap and refit on the training samples; measure on the validation samples."""
    try:
        cleaned = _simplest(
            snap_constants(tidy(expr), symbols, X_train, y_train, compound=compound)
        )
    except (TypeError, ValueError, ZeroDivisionError, OverflowError, KeyError):
        return None
    return measure(cleaned, symbols, X_valid, y_valid)


def _simplest(expr: sympy.Expr) -> sympy.Expr:
    """The simplified form when it is smaller (exact constants often cancel: (−x − 1)/(1 − x) is
    (x + 1)/(x − 1)); formulas with fitted constants or many operations as they are."""
    if expr.atoms(sympy.Float) or sympy.count_ops(expr) > MAX_SIMPLIFY_OPS:
        return expr
    simpler = simplified(expr)
    return simpler if complexity(simpler) <= complexity(expr) else expr


def simplified(expr: sympy.Expr) -> sympy.Expr:
    """sympy.simplify with each log held as an opaque symbol: on positive variables its
    logcombine asks the sign of every sum, which can take sympy minutes (the real roots of a
    large polynomial: 20 minutes on one lens candidate); the logs' arguments are simplified
    on their own."""
    terms = expr.atoms(sympy.log)
    outermost = [t for t in terms if not any(t != o and o.has(t) for o in terms)]
    if not outermost:
        return sympy.simplify(expr)
    logs = {t: sympy.Dummy("log") for t in sorted(outermost, key=sympy.default_sort_key)}
    inner = {dummy: sympy.log(simplified(term.args[0])) for term, dummy in logs.items()}
    return sympy.simplify(expr.xreplace(logs)).xreplace(inner)


def tidy(expr: sympy.Expr) -> sympy.Expr:
    """A cheap canonical form: exp of a sum as a product (so exp(2·log x) becomes x²), powers
    of a common base merged; full simplification waits until the constants are exact."""
    return sympy.powsimp(sympy.expand_power_exp(expr))


def pareto_front(scored: Sequence[Scored]) -> list[Scored]:
    """Candidates no other beats on both size and error, smallest first."""
    front: list[Scored] = []
    for candidate in sorted(scored, key=lambda s: (s.size, s.rel_spread, str(s.expr))):
        if not front or candidate.rel_spread < front[-1].rel_spread:
            front.append(candidate)
    return front


def shortlist(
    exprs: Sequence[sympy.Expr],
    symbols: Sequence[sympy.Symbol],
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
    clean_all: bool = False,
    compound: bool = True,
) -> list[Scored]:
    """The Pareto front of the candidates after cleaning the promising ones: measure all as they
    are, clean the CLEAN best trade-offs of the front (or every candidate, `clean_all`: a
    recombined formula may be undefined somewhere until its constants are refitted), round the
    constants of the ROUNDED closest ones, trim the cleaned ones, and take the front again."""
    raw = [s for s in (measure(e, symbols, X_valid, y_valid) for e in exprs) if s is not None]
    if clean_all:
        promising = list(exprs)
    else:
        ranked = [measure(e, symbols, X_valid, y_valid, DEFINED) for e in exprs]
        front = pareto_front([s for s in ranked if s is not None])
        promising = [s.expr for s in sorted(front, key=cost)[:CLEAN]]
    cleaned = [score(e, symbols, X_train, y_train, X_valid, y_valid, compound) for e in promising]
    cleaned = [s for s in cleaned if s is not None]
    closest = [s.expr for s in sorted(raw, key=lambda s: s.rel_spread)[:ROUNDED]]
    rounded = [measure(e, symbols, X_valid, y_valid) for e in _rounded(closest)]
    rounded = [s for s in rounded if s is not None]
    # simplifying is slow: only where a smaller form could make the best trade-off
    best = min((cost(s) for s in cleaned + rounded), default=math.inf)
    simpler = [_simplest(s.expr) for s in rounded if cost(s) <= best + SIMPLIFY_MARGIN]
    cleaned += rounded + [s for s in (measure(e, symbols, X_valid, y_valid) for e in simpler) if s]
    trimmed = [
        score(e, symbols, X_train, y_train, X_valid, y_valid, compound)
        for e in _trimmed(cleaned, symbols, X_valid, y_valid)
    ]
    return pareto_front(raw + cleaned + [s for s in trimmed if s is not None])


def _rounded(exprs: Sequence[sympy.Expr]) -> list[sympy.Expr]:
    """The candidates with every fitted constant replaced by its simplest number within
    ROUNDING at once, not refitted. Snapping one constant at a time keeps a snap only when the
    refit stays within 1.5× the free fit; a network whose own error is larger than that (the
    free constants absorb it) keeps a law's constants from snapping, though the law explains it
    at the smaller size: selection.cost weighs the two."""
    out = []
    for expr in exprs:
        floats = expr.atoms(sympy.Float)
        simple = {f: nearest_simple(float(f), ROUNDING) for f in floats}
        if floats and all(v is not None for v in simple.values()):
            out.append(tidy(expr.xreplace(simple)))
    return out


def _trimmed(
    cleaned: Sequence[Scored], symbols: Sequence[sympy.Symbol], X: np.ndarray, y: np.ndarray
) -> list[sympy.Expr]:
    """The cleaned candidates without one of their outermost factors or terms, where that
    costs little error: a fit's correction that follows the network's own error near the
    domain's edge (B·q·v·exp(exp(−B)/(27π))/p, whose last factor is within 0.4 % of 1) gives
    way to the law it decorates when the law explains the network as well, by selection.cost."""
    out = []
    for candidate in cleaned:
        expr = candidate.expr
        if not isinstance(expr, (sympy.Mul, sympy.Add)):
            continue
        parts = [a for a in expr.args if a.free_symbols]
        if len(parts) < 2:
            continue
        limit = max(TRIM_SLACK * candidate.rel_spread, NOISE_FLOOR)
        for part in parts:
            rest = expr / part if isinstance(expr, sympy.Mul) else expr - part
            measured = measure(rest, symbols, X, y)
            if measured is not None and measured.rel_spread <= limit:
                out.append(rest)
    return out


def cost(candidate: Scored) -> float:
    """Decades of error plus the price of size (constants included): the candidate with the
    lowest cost is the best trade-off (a law costs little: small, simple constants, the
    network's own error)."""
    return math.log10(max(candidate.rel_spread, NOISE_FLOOR)) + SIZE_COST * candidate.size


def best_tradeoff(candidates: Sequence[Scored]) -> Scored | None:
    return min(candidates, key=lambda s: (cost(s), s.size), default=None)


def choose(front: Sequence[Scored], gate: Gate) -> tuple[Scored | None, str]:
    """The chosen candidate and why: among those that pass the gate, the best trade-off (cost);
    in auto mode only when it is a law (Gate.accepts_law), with approximations allowed the
    simplest that fits nearly as well as the best passing one."""
    passing = [s for s in front if gate.accepts_formula(s.errors)]
    if not passing:
        return None, f"no candidate passed the gate ({gate.describe()})"
    if gate.approximate:
        best = min(s.rel_rmse for s in passing)
        chosen = next(s for s in passing if s.rel_rmse <= NEAR_BEST * best)
        return chosen, "the simplest candidate that passes the gate (approximations allowed)"
    chosen = best_tradeoff(passing)
    assert chosen is not None
    if gate.accepts_law(chosen.errors, chosen.constant_bits):
        return chosen, "a law: simple constants, the network's own error"
    return None, (
        f"the best candidate, {readable(chosen.expr)}, passes the gate but is a fit, not a law "
        f"(constants of {chosen.constant_bits:.0f} bits, {chosen.rel_spread:.1e} of the "
        f"output's spread unexplained; a law has at most {gate.law_bits:g} and "
        f"{gate.law_spread:g}); approximate_formulas=True accepts fits"
    )


def describe_front(front: Sequence[Scored], limit: int = 8) -> str:
    """One line per report: complexity, errors and formula of the Pareto-optimal candidates."""
    shown = list(front)[:limit]
    more = f"; … {len(front) - limit} more" if len(front) > limit else ""
    return (
        "Pareto front (size, rel RMSE, max rel error, of spread): "
        + "; ".join(
            f"{s.size:.1f}, {s.rel_rmse:.1e}, {s.max_rel:.1e}, {s.rel_spread:.1e}: "
            f"{readable(s.expr)}"
            for s in shown
        )
        + more
    )


def search_settings(options: Options, seed: int) -> SearchSettings:
    """The engines' settings from the compile options, with a derived seed."""
    return SearchSettings(
        tuple(options.operators),
        options.max_complexity,
        options.sr_seconds,
        options.sr_threads,
        seed,
        options.sr_evaluations,
    )


@dataclass(frozen=True)
class Regression:
    """One output column's search: how many candidates, the Pareto front, the choice (or None)
    and why."""

    candidates: int
    front: list[Scored]
    chosen: Scored | None
    reason: str
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
            "reason": self.reason,
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
    """Ask the chosen engine (and the basis engine, with `basis_too`) for candidates for y ≈ f(X)
    from samples alone, score them on the validation samples and choose; `progress` shows the
    search as it runs."""
    progress = progress or Progress()
    engine = get_engine(options.engine)
    settings = prepare(search_settings(options, options.seed), X_train)
    start = time.monotonic()
    with progress.task(label, options.sr_seconds):
        progress(f"{engine.name} search")
        candidates = engine.fit(X_train, y_train, names, settings)
        if options.basis_too and engine.name != "basis":
            progress("basis search")
            candidates += get_engine("basis").fit(X_train, y_train, names, settings)
        progress(f"scoring {len(candidates)} candidates on validation samples")
        symbols = [sympy.Symbol(n) for n in names]
        front = shortlist([c.expr for c in candidates], symbols, X_train, y_train, X_valid, y_valid)
    chosen, reason = choose(front, gate)
    return Regression(len(candidates), front, chosen, reason, time.monotonic() - start)


@dataclass(frozen=True)
class RegressionJob:
    """A work unit: regress's arguments as plain data (samples, names, options, the gate), so
    the search can run on any worker."""

    label: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_valid: np.ndarray
    y_valid: np.ndarray
    names: tuple[str, ...]
    options: Options
    gate: Gate


def column_jobs(
    label: str,
    X_train: np.ndarray,
    Y_train: np.ndarray,
    X_valid: np.ndarray,
    Y_valid: np.ndarray,
    names: Sequence[str],
    options: Options,
    gate: Gate,
) -> list[RegressionJob]:
    """One work unit per column of Y (n, columns), labelled "{label}output {j}"."""
    return [
        RegressionJob(
            f"{label}output {j}",
            X_train,
            Y_train[:, j],
            X_valid,
            Y_valid[:, j],
            tuple(names),
            options,
            gate,
        )
        for j in range(Y_train.shape[1])
    ]


def regress_job(job: RegressionJob) -> Regression:
    """regress on a work unit (runs in a worker; progress shows in the caller)."""
    return regress(
        job.label,
        job.X_train,
        job.y_train,
        job.X_valid,
        job.y_valid,
        list(job.names),
        job.options,
        job.gate,
    )


def run_searches(
    ctx: PassContext, search: Callable[[Job], Result], jobs: Sequence[Job], what: str
) -> list[Result]:
    """search over the jobs on the compile's fan-out, in order, shown as one running task."""
    if not jobs:
        return []
    rounds = math.ceil(len(jobs) / ctx.fanout.workers)
    with ctx.progress.task(f"{what} ×{len(jobs)}", ctx.options.sr_seconds * rounds):
        ctx.progress(f"{len(jobs)} searches on {ctx.fanout.describe()}")
        return ctx.fanout.map(search, jobs)
