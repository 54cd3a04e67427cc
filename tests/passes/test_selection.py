"""The choice among candidates on planted Pareto fronts: a law is chosen, a fit is not (unless
approximations are asked for), the trade-off does not chase the network's wiggles; and the
recursive recovery is deterministic under a seed, and its engine search runs as a work unit."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import sympy
from nnc.fanout import LocalPool, Serial
from nnc.fidelity import Gate, RelativeErrors
from nnc.passes.engines import SearchSettings
from nnc.passes.recover import (
    EngineSearch,
    Recovery,
    Trail,
    engine_search,
    problem_data,
    recover,
    with_search,
)
from nnc.passes.selection import Scored, best_tradeoff, choose, complexity, pareto_front, shortlist

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_structure import planted

x0, x1, x2 = sympy.symbols("x0 x1 x2", positive=True)


def scored(expr: sympy.Expr, rel_spread: float) -> Scored:
    """A candidate with errors as a network of spread ≈ RMS would give them."""
    return Scored(expr, complexity(expr), RelativeErrors(rel_spread / 2, rel_spread, rel_spread))


LAW = x0 * x1 / (4 * sympy.pi * x2**2)
# more terms follow the network's own error a little better: a fit of its wiggles
WIGGLES = (
    sympy.Float(0.0796) * x0 * x1 / x2**2
    + sympy.Float(0.0013) * sympy.sin(x0)
    + sympy.Float(0.0021) * x1**2 * sympy.exp(-x2)
)


def test_the_law_is_chosen_over_fits_of_the_networks_wiggles() -> None:
    front = pareto_front([scored(x0 * x1, 0.4), scored(LAW, 2e-3), scored(WIGGLES, 6e-4)])
    chosen, reason = choose(front, Gate())
    assert chosen is not None and chosen.expr == LAW and "law" in reason


def test_a_fit_is_not_passed_off_as_a_law() -> None:
    fit = sympy.Float(0.367) * x0 * sympy.exp(sympy.exp(sympy.Float(0.36) * x0 * x1))
    front = pareto_front([scored(x0 + x1, 0.3), scored(fit, 4e-3)])
    chosen, reason = choose(front, Gate())
    assert chosen is None and "fit, not a law" in reason
    approximate, why = choose(front, Gate(approximate=True))
    assert approximate is not None and approximate.expr == fit and "approximations" in why


def test_a_correction_that_follows_the_networks_edge_error_gives_way_to_the_law() -> None:
    """Feynman I.34.8's network (q·v·B/p, 0.4 % off near B = 1) was fitted as
    B·q·v·exp(exp(−B)/(27π))/p; without that last factor the law explains it as well."""
    q, v, b, p = sympy.symbols("q v B p", positive=True)
    rng = np.random.default_rng(0)
    X_train, X_valid = (rng.uniform(1, 5, size=(2000, 4)) for _ in range(2))

    def network(X: np.ndarray) -> np.ndarray:  # the law, and an error near the edge B = 1
        law = X[:, 0] * X[:, 1] * X[:, 2] / X[:, 3]
        return law * (1 + 0.004 * np.exp(-4 * (X[:, 2] - 1)) + 1e-3 * rng.standard_normal(len(X)))

    decorated = b * q * v * sympy.exp(sympy.exp(-b) / (27 * sympy.pi)) / p
    front = shortlist(
        [decorated], [q, v, b, p], X_train, network(X_train), X_valid, network(X_valid)
    )
    assert b * q * v / p in [s.expr for s in front]
    assert best_tradeoff(front).expr == b * q * v / p


def test_constants_rounded_together_give_the_law_that_one_at_a_time_snapping_misses() -> None:
    """Feynman I.34.14 through ρ = c/v is √((ρ + 1)/(ρ − 1)). A network 0.2 % off it (here a
    ripple) is fitted a little better by free constants than by the law, so snapping one
    constant at a time stops early, or drifts to a look-alike (√(10ρ + π²)·…); rounding all
    constants at once gives the law, which selection.cost prefers at its size."""
    r = sympy.Symbol("r", positive=True)
    rng = np.random.default_rng(0)
    X_train, X_valid = (rng.uniform(1.5, 10, size=(2000, 1)) for _ in range(2))

    def network(X: np.ndarray) -> np.ndarray:
        return np.sqrt((X[:, 0] + 1) / (X[:, 0] - 1)) * (1 + 0.002 * np.sin(2 * X[:, 0]))

    # the basis engine's least-squares ratio fit of f² (passes/engines/basis.py, _ratios)
    fitted = sympy.sqrt(
        (sympy.Float(-0.9989) * r - sympy.Float(1.0047)) / (1 - sympy.Float(1.0012) * r)
    )
    front = shortlist([fitted], [r], X_train, network(X_train), X_valid, network(X_valid))
    law = sympy.sqrt((r + 1) / (r - 1))
    assert sympy.simplify(best_tradeoff(front).expr - law) == 0


def test_nothing_passes_the_gate() -> None:
    chosen, reason = choose(pareto_front([scored(x0, 0.5)]), Gate())
    assert chosen is None and "no candidate passed the gate" in reason


def test_same_seed_same_formula() -> None:
    problem = planted(lambda a, b, c: a * np.exp(-b) + c**2, [1, 0, 1], [3, 2, 3])
    recovery = Recovery(SearchSettings(seed=3), engine="basis", samples=400)
    first, trail = recover(problem, recovery, seed=3, searches=1)
    second, _ = recover(problem, recovery, seed=3, searches=1)
    assert [str(s.expr) for s in first] == [str(s.expr) for s in second]
    a, b, c = problem.symbols
    assert any(sympy.simplify(s.expr - (a * sympy.exp(-b) + c**2)) == 0 for s in first), trail.lines


def test_an_engine_search_is_a_work_unit_with_the_same_result_on_workers() -> None:
    """recover's engine search travels as plain data: a local pool finds what this process does."""
    problem = planted(lambda a, b, c: a * np.sin(b) / c, [1, 0, 1], [3, 2, 3])
    recovery = Recovery(SearchSettings(evaluations=2000), engine="operon", samples=200)
    searches = [
        EngineSearch(problem.symbols, problem_data(problem, 200, seed), recovery, seed, whole=True)
        for seed in (1, 2)
    ]
    here = Serial().map(engine_search, searches)
    pool = LocalPool(2)
    try:
        pooled = pool.map(engine_search, searches)
    finally:
        pool.close()
    assert pool.startup_seconds is not None, "the searches ran on the pool's workers"
    assert all(r.candidates > 0 and r.front for r in here)
    assert [[str(s.expr) for s in r.front] for r in pooled] == [
        [str(s.expr) for s in r.front] for r in here
    ]
    front, trail = pareto_front([]), Trail()
    merged = with_search(front, trail, searches[0], pooled[0])
    assert trail.searches == 1 and "operon search on x0, x1, x2" in trail.lines[0]
    assert [s.expr for s in merged] == [s.expr for s in pareto_front(here[0].front)]
