"""Recover the law of one network output by using the network as an oracle (AI Feynman style):
fit directly and through target transforms; split the problem where the network shows structure
(structure.py), solve the parts and recombine them; search with the engine where nothing simpler
worked. Every route's formula is measured against the (sub-)problem's own oracle, and the
caller measures the final candidates against the network itself.

    solve(f)                          a front of candidates for f
      quick fits: basis on f, on log f, 1/f, f², …
      a verified split of f or of T(f) → solve each part → recombine
      engine search (evaluation budget)

The steps that query the oracle run where the network is (oracle_steps); the engine search on
the whole problem needs only its samples, so it comes back as a work unit (EngineSearch) that
any worker can run (engine_search) — sr fans these out over its outputs.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import sympy

from .constants import floated
from .engines import SearchSettings, get_engine, prepare
from .engines.basis import BasisEngine
from .oracle import Problem, own
from .selection import Scored, cost, pareto_front, shortlist
from .structure import STEPS, Step, linear, separable
from .transforms import TRANSFORMS, Transformed, applicable

__all__ = [
    "EngineSearch",
    "Recovery",
    "Searched",
    "Trail",
    "engine_search",
    "front_law",
    "oracle_steps",
    "problem_data",
    "recover",
    "solve",
    "with_search",
]

# A sub-problem's formula (its best trade-off) is used when it leaves at most SUB_LAW of the
# sub-problem's spread unexplained; the search stops early once that formula has simple
# constants (at most CLEAR_BITS to describe them) or leaves at most CLEAR — for the whole
# problem, once it has simple constants and leaves at most CLEAR_WHOLE.
SUB_LAW = 5e-2
CLEAR = 3e-3
CLEAR_BITS = 12.0
CLEAR_WHOLE = 5e-3
MAX_DEPTH = 4
SPLITS = 20  # splits solved per output, so the search ends in bounded work
# no engine search when the best fit leaves more than this share of the output's spread: the
# network is nowhere near a formula (an untrained one, say)
HOPELESS = 0.3
ALTERNATIVES = 2  # formulas each part offers to the recombination
COMBINATIONS = 4  # recombined formulas per split (the parts' best ones first)
# transforms under which splits are looked for (an additive split of log f is a multiplicative
# split of f, found without it)
SPLIT_TRANSFORMS = ("inverse", "square", "inverse square", "sqrt")
# transforms fitted directly (basis engine): all for problems of at most ALL_TRANSFORMS_UP_TO
# variables, the algebraic ones for three, log alone for more (the library grows quickly)
ALL_TRANSFORMS_UP_TO = 2
FEW_TRANSFORMS = {False: SPLIT_TRANSFORMS + ("log",), True: ("log",)}


@dataclass(frozen=True)
class Recovery:
    """How to search: the engines' settings, and whether the basis engine fits every (sub-)problem
    before the engine is asked (basis_too)."""

    settings: SearchSettings
    engine: str = "operon"
    basis_too: bool = True
    samples: int = 1000


@dataclass
class Trail:
    """What the recovery did, for the report (one line per step), the engine searches it may
    still run, and the fits and splits already computed (a second pass reuses them)."""

    lines: list[str] = field(default_factory=list)
    searches: int = 0
    searches_left: int = 0
    splits_left: int = SPLITS
    fits: dict[tuple[Problem, int], list[Scored]] = field(default_factory=dict)
    solved: dict[tuple[Problem, int], list[Scored]] = field(default_factory=dict)

    def add(self, depth: int, text: str) -> None:
        self.lines.append("  " * depth + text)


Data = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class EngineSearch:
    """A work unit: the engine's search on a problem from its samples alone — plain data (the
    variables, training and validation samples, settings, seed), no oracle."""

    symbols: tuple[sympy.Symbol, ...]
    data: Data
    recovery: Recovery
    seed: int
    whole: bool  # the whole problem (its candidates may take compound constants)


@dataclass(frozen=True)
class Searched:
    """What an engine search found: how many candidates, the shortlist measured on the
    validation samples, and the seconds it took."""

    engine: str
    candidates: int
    front: list[Scored]
    seconds: float


def engine_search(search: EngineSearch) -> Searched:
    """The engine's candidates for the problem (evaluation budget, the search's seed)."""
    recovery = search.recovery
    if recovery.engine == "basis":
        return Searched(recovery.engine, 0, [], 0.0)  # the quick fits already ran it
    start = time.monotonic()
    X_train = search.data[0]
    settings = prepare(replace(recovery.settings, seed=search.seed), X_train)
    names = [str(s) for s in search.symbols]
    candidates = get_engine(recovery.engine).fit(X_train, search.data[1], names, settings)
    exprs = [own(c.expr, search.symbols) for c in candidates]
    front = shortlist(exprs, search.symbols, *search.data, compound=search.whole)
    return Searched(recovery.engine, len(candidates), front, time.monotonic() - start)


def recover(
    problem: Problem, recovery: Recovery, seed: int, searches: int
) -> tuple[list[Scored], Trail]:
    """Candidates for the problem: oracle_steps, then the engine search they ask for, here."""
    front, trail, search = oracle_steps(problem, recovery, seed, searches)
    if search is None:
        return front, trail
    return with_search(front, trail, search, engine_search(search)), trail


def oracle_steps(
    problem: Problem, recovery: Recovery, seed: int, searches: int
) -> tuple[list[Scored], Trail, EngineSearch | None]:
    """Fits and splits first; when they find no clear law but something near one, the engine
    search on the whole problem to run next (None when none is due). Without `basis_too` the
    engine solves every part here instead (up to searches per input and one more: a split into
    single inputs leaves a part for each)."""
    trail = Trail()
    if not recovery.basis_too:
        trail.searches_left = (len(problem.symbols) + 1) * searches
        return solve(problem, recovery, seed, trail), trail, None
    front = solve(problem, recovery, seed, trail)
    best = min((s.rel_spread for s in front), default=math.inf)
    law = front_law(front)
    if searches <= 0 or (law is not None and law.constant_bits <= CLEAR_BITS):
        return front, trail, None
    if best > HOPELESS:
        trail.add(0, f"no search: nothing explains more than {1 - best:.0%} of the output")
        return front, trail, None
    data = problem_data(problem, recovery.samples, seed)
    return front, trail, EngineSearch(problem.symbols, data, recovery, seed, whole=True)


def with_search(
    front: list[Scored], trail: Trail, search: EngineSearch, searched: Searched
) -> list[Scored]:
    """The front with an engine search's candidates, the search in the trail."""
    _record(trail, search, searched, 0)
    return pareto_front(front + searched.front)


def _record(trail: Trail, search: EngineSearch, searched: Searched, depth: int) -> None:
    trail.searches += 1
    if searched.engine != "basis":
        names = ", ".join(str(s) for s in search.symbols)
        trail.add(depth, f"{searched.engine} search on {names}: {searched.candidates} candidates")


def solve(
    problem: Problem, recovery: Recovery, seed: int, trail: Trail, depth: int = 0
) -> list[Scored]:
    """The Pareto front of candidate formulas for the problem, measured on its validation points."""
    data = problem_data(problem, recovery.samples, seed)
    if np.all(data[1] < 0) and np.all(data[3] < 0):
        trail.add(depth, "f < 0 on the domain: solve −f")
        negated = replace(problem, oracle=Transformed(problem.oracle, "negate"))
        return [_negated(s) for s in solve(negated, recovery, seed, trail, depth)]
    key = (problem, seed)
    if key in trail.solved:
        return trail.solved[key]
    if key not in trail.fits:
        trail.fits[key] = _quick(problem, data, recovery, depth == 0)
    front = trail.fits[key]
    if _clear(front, depth):
        trail.add(depth, f"fit {_names(problem)} directly: {front_law(front).expr}")
        trail.solved[key] = front
        return front
    for where, step in _routes(problem, data, seed) if depth < MAX_DEPTH else ():
        if trail.splits_left <= 0:
            trail.add(depth, "no splits left in this output's budget")
            break
        trail.splits_left -= 1
        formulas = _solve_step(step, where, recovery, seed, trail, depth)
        if not formulas:
            continue
        front = pareto_front(
            front + shortlist(formulas, problem.symbols, *data, clean_all=True, compound=depth == 0)
        )
        if _clear(front, depth):
            trail.solved[key] = front
            return front
    if trail.searches_left > 0:
        trail.searches_left -= 1
        front = pareto_front(front + _search(problem, data, recovery, seed, trail, depth))
        if _clear(front, depth):
            trail.solved[key] = front
    return front


def _negated(candidate: Scored) -> Scored:
    return replace(candidate, expr=-candidate.expr)


def front_law(front: list[Scored]) -> Scored | None:
    """The candidate a sub-problem uses: the best trade-off (selection.cost), when it leaves at
    most SUB_LAW of the sub-problem's spread unexplained."""
    laws = front_laws(front)
    return laws[0] if laws else None


def front_laws(front: list[Scored]) -> list[Scored]:
    """The candidates that leave at most SUB_LAW of the spread unexplained, best trade-off first:
    a part offers the first ALTERNATIVES of them to the recombination (the network's error may
    favour a look-alike: cos u for 1 − u²/2)."""
    return sorted((s for s in front if s.rel_spread <= SUB_LAW), key=lambda s: (cost(s), s.size))


def _clear(front: list[Scored], depth: int) -> bool:
    """A formula that needs no more search: simple constants, or a very small error. For the
    whole problem, simple constants alone are not enough (a look-alike such as
    w/√(1 − 7w²/18) for asin w has them): its error must be small too."""
    law = front_law(front)
    if law is None:
        return False
    if depth == 0:
        return law.constant_bits <= CLEAR_BITS and law.rel_spread <= CLEAR_WHOLE
    return law.constant_bits <= CLEAR_BITS or law.rel_spread <= CLEAR


def _names(problem: Problem) -> str:
    return ", ".join(str(s) for s in problem.symbols)


def problem_data(problem: Problem, samples: int, seed: int) -> Data:
    """Training and validation points (space-filling, disjoint seeds) and the oracle there."""
    X_train, X_valid = problem.sample(samples, seed), problem.sample(samples, seed + 1)
    return X_train, problem.values(X_train), X_valid, problem.values(X_valid)


def _quick(problem: Problem, data: Data, recovery: Recovery, top: bool) -> list[Scored]:
    """Basis-engine fits of f and of its transforms (each mapped back to f); none without
    `basis_too`."""
    if not recovery.basis_too and recovery.engine != "basis":
        return []
    X_train, y_train, _, _ = data
    names = [str(s) for s in problem.symbols]
    settings = prepare(recovery.settings, X_train)
    engine = BasisEngine()
    transforms = applicable(y_train)
    if len(names) > ALL_TRANSFORMS_UP_TO:
        transforms = [t for t in transforms if t in FEW_TRANSFORMS[len(names) > 3]]
    targets = [
        (name, y_train if name is None else TRANSFORMS[name].forward(y_train))
        for name in [None, *transforms]
    ]
    targets = [(n, t) for n, t in targets if np.all(np.isfinite(t))]
    fits = engine.fit_many(X_train, [t for _, t in targets], names, settings)
    exprs = []
    for (name, _), candidates in zip(targets, fits):
        for candidate in candidates:
            expr = own(candidate.expr, problem.symbols)
            exprs.append(expr if name is None else TRANSFORMS[name].inverse(expr))
    return shortlist(exprs, problem.symbols, *data, compound=top)


def _routes(problem: Problem, data: Data, seed: int) -> Iterator[tuple[str | None, Step]]:
    """Verified splits, tried in order: of f itself, then of T(f) for each transform."""
    for _, test in STEPS:
        step = test(problem, seed)
        if step is not None:
            yield None, step
    if len(problem.symbols) < 2:
        return
    for name in applicable(data[1]):
        if name not in SPLIT_TRANSFORMS:
            continue
        transformed = replace(problem, oracle=Transformed(problem.oracle, name))
        for test in (lambda p, s: separable(p, "additive", s), linear):
            step = test(transformed, seed)
            if step is not None:
                yield name, step


def _solve_step(
    step: Step, where: str | None, recovery: Recovery, seed: int, trail: Trail, depth: int
) -> list[sympy.Expr]:
    """Solve each part of a split and recombine their formulas into formulas for f, the parts'
    constants refitted together (none when a part has no formula)."""
    on = f"{where}(f)" if where else "f"
    trail.add(depth, f"{on}: {step.describe()}")
    options = []
    for k, part in enumerate(step.parts):
        laws = front_laws(solve(part, recovery, seed * 7 + k + 1, trail, depth + 1))
        if not laws:
            trail.add(depth + 1, f"part {k + 1} ({_names(part)}): no formula")
            return []
        trail.add(depth + 1, f"part {k + 1} ({_names(part)}): {laws[0].expr}")
        options.append([floated(law.expr) for law in laws[:ALTERNATIVES]])
    combinations = sorted(itertools.product(*[range(len(o)) for o in options]), key=sum)
    formulas = [step.recombine([o[i] for o, i in zip(options, c)]) for c in combinations]
    return [f if where is None else TRANSFORMS[where].inverse(f) for f in formulas[:COMBINATIONS]]


def _search(
    problem: Problem, data: Data, recovery: Recovery, seed: int, trail: Trail, depth: int
) -> list[Scored]:
    """The engine's candidates for a part of the problem, here (seed derived from the problem's)."""
    search = EngineSearch(problem.symbols, data, recovery, seed, whole=depth == 0)
    searched = engine_search(search)
    _record(trail, search, searched, depth)
    return searched.front
