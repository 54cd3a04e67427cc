"""The choice among candidates on planted Pareto fronts: a law is chosen, a fit is not (unless
approximations are asked for), the trade-off does not chase the network's wiggles; and the
recursive recovery is deterministic under a seed."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import sympy
from nnc.fidelity import Gate, RelativeErrors
from nnc.passes.engines import SearchSettings
from nnc.passes.recover import Recovery, recover
from nnc.passes.selection import Scored, choose, complexity, pareto_front

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
