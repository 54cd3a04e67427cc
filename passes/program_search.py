"""Bottom-up search for the smallest integer program that reproduces a target on every point.

Programs are built by size (leaves count 1, each operation 1 more) from the input variables and a
few constants. Two programs with the same values on a fixed sample of points are the same program
for the search (observational equivalence), so each level holds only new behaviours; a candidate
that matches the target on the sample is then checked on every point.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import sympy

__all__ = ["Program", "SearchResult", "search_program", "to_sympy"]

SAMPLE = 256  # points on which behaviours are compared
MAX_LEVEL = 60_000  # new behaviours kept per size
MAX_MAGNITUDE = 2**40  # values beyond this are overflow in waiting: dropped
CHUNK_ELEMENTS = 4_000_000  # int64 values computed per numpy step

# A program: ("var", name) | ("const", value) | (operation, program, program) | ("not", program)
# | ("select", condition, then, otherwise), the condition being a comparison
Program = tuple


def _floordiv(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.floor_divide(x, np.where(y == 0, 1, y))


def _mod(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.mod(x, np.where(y == 0, 1, y))


# operation → (numpy function, commutative, needs a nonzero right operand, needs 0/1 operands)
BINARY: dict[str, tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], bool, bool, bool]] = {
    "add": (np.add, True, False, False),
    "sub": (np.subtract, False, False, False),
    "mul": (np.multiply, True, False, False),
    "mod": (_mod, False, True, False),
    "floordiv": (_floordiv, False, True, False),
    "min": (np.minimum, True, False, False),
    "max": (np.maximum, True, False, False),
    "lt": (lambda x, y: (x < y).astype(np.int64), False, False, False),
    "le": (lambda x, y: (x <= y).astype(np.int64), False, False, False),
    "eq": (lambda x, y: (x == y).astype(np.int64), True, False, False),
    "and": (np.bitwise_and, True, False, True),
    "or": (np.bitwise_or, True, False, True),
    "xor": (np.bitwise_xor, True, False, True),
}


@dataclass(frozen=True)
class SearchResult:
    program: Program
    size: int
    agreement: int  # points where the program equals the target
    explored: int  # distinct behaviours enumerated


def search_program(
    variables: dict[str, np.ndarray],
    target: np.ndarray,
    constants: list[int],
    min_agreement: float,
    seconds: float,
    max_size: int = 9,
    progress: Callable[[str], None] = lambda line: None,
) -> SearchResult | None:
    """The smallest program over `variables` matching `target` on ≥ min_agreement of the points."""
    search = _Search(variables, target, constants, min_agreement, time.monotonic() + seconds)
    found = search.run(max_size, progress)
    return found


class _Search:
    def __init__(
        self,
        variables: dict[str, np.ndarray],
        target: np.ndarray,
        constants: list[int],
        min_agreement: float,
        deadline: float,
    ) -> None:
        self.variables = {k: v.astype(np.int64) for k, v in variables.items()}
        self.target = target.astype(np.int64)
        n = len(self.target)
        rng = np.random.default_rng(0)
        self.sample = np.sort(rng.choice(n, size=min(SAMPLE, n), replace=False))
        self.needed = int(np.ceil(min_agreement * n))
        self.sample_needed = int(np.floor(min_agreement * len(self.sample))) - 1
        self.deadline = deadline
        self.weights = rng.integers(1, 2**63, size=len(self.sample), dtype=np.uint64)
        self.seen: set[int] = set()
        self.boolean = all(set(np.unique(v)) <= {0, 1} for v in self.variables.values())
        self.levels: list[tuple[np.ndarray, list[Program]]] = [
            (np.zeros((0, len(self.sample)), np.int64), [])
        ]
        leaves = [("var", name) for name in self.variables] + [("const", c) for c in constants]
        values = np.stack([self._leaf_values(p)[self.sample] for p in leaves])
        self.levels.append(self._admit(values, leaves))
        self.explored = len(self.levels[1][1])

    def _leaf_values(self, program: Program) -> np.ndarray:
        if program[0] == "var":
            return self.variables[program[1]]
        return np.full(len(self.target), program[1], dtype=np.int64)

    def run(self, max_size: int, progress: Callable[[str], None]) -> SearchResult | None:
        hit = self._check(self.levels[1])
        if hit is not None:
            return SearchResult(hit[0], 1, hit[1], self.explored)
        for size in range(2, max_size + 1):
            values, programs = [], []
            for block_values, block_programs in self._grow(size):
                admitted = self._admit(block_values, block_programs)
                hit = self._check(admitted)
                self.explored += len(admitted[1])
                if hit is not None:
                    return SearchResult(hit[0], size, hit[1], self.explored)
                values.append(admitted[0])
                programs.extend(admitted[1])
                if sum(len(v) for v in values) >= MAX_LEVEL or time.monotonic() > self.deadline:
                    break
            stacked = (
                np.concatenate(values) if values else np.zeros((0, len(self.sample)), np.int64)
            )
            self.levels.append((stacked, programs))
            progress(f"size {size}: {len(programs)} new behaviours, {self.explored} in all")
            if time.monotonic() > self.deadline:
                return None
        return None

    def _grow(self, size: int) -> Iterator[tuple[np.ndarray, list[Program]]]:
        """Candidate programs of exactly `size`, in blocks."""
        if self.boolean:
            values, programs = self.levels[size - 1]
            if len(programs):
                yield 1 - values, [("not", p) for p in programs]
        for name, (function, commutative, nonzero, boolean) in BINARY.items():
            if boolean and not self.boolean:
                continue
            for left_size in range(1, size - 1):
                right_size = size - 1 - left_size
                if commutative and left_size > right_size:
                    continue
                yield from self._combine(name, function, nonzero, left_size, right_size)
                if time.monotonic() > self.deadline:
                    return
        yield from self._select(size)

    def _select(self, size: int) -> Iterator[tuple[np.ndarray, list[Program]]]:
        """select(comparison, x, y): comparisons of size 3 (two leaves), branches up to size 3."""
        if size < 5 or len(self.levels) <= 3:
            return
        conditions, condition_programs = self.levels[3]
        keep = [i for i, p in enumerate(condition_programs) if p[0] in _COMPARISONS]
        if not keep:
            return
        conditions, condition_programs = (
            conditions[keep] != 0,
            [condition_programs[i] for i in keep],
        )
        for then_size in range(1, min(3, size - 4) + 1):
            else_size = size - 4 - then_size
            if not 1 <= else_size <= 3:
                continue
            then, then_programs = self.levels[then_size]
            other, other_programs = self.levels[else_size]
            if not then_programs or not other_programs:
                continue
            for c in range(len(condition_programs)):
                block = np.where(conditions[c][None, None, :], then[:, None, :], other[None, :, :])
                programs = [
                    ("select", condition_programs[c], t, o)
                    for t in then_programs
                    for o in other_programs
                ]
                yield block.reshape(-1, len(self.sample)), programs
                if time.monotonic() > self.deadline:
                    return

    def _combine(
        self, name: str, function: Callable, nonzero: bool, left_size: int, right_size: int
    ) -> Iterator[tuple[np.ndarray, list[Program]]]:
        left, left_programs = self.levels[left_size]
        right, right_programs = self.levels[right_size]
        if not len(left_programs) or not len(right_programs):
            return
        if nonzero:
            usable = ~(right == 0).any(axis=1)
            right, right_programs = right[usable], [p for p, u in zip(right_programs, usable) if u]
            if not right_programs:
                return
        rows = max(1, CHUNK_ELEMENTS // (len(right_programs) * len(self.sample)))
        for start in range(0, len(left_programs), rows):
            block = function(left[start : start + rows, None, :], right[None, :, :])
            block = block.reshape(-1, len(self.sample))
            programs = [
                (name, lp, rp)
                for lp in left_programs[start : start + rows]
                for rp in right_programs
            ]
            yield block, programs
            if time.monotonic() > self.deadline:
                return

    def _admit(
        self, values: np.ndarray, programs: list[Program]
    ) -> tuple[np.ndarray, list[Program]]:
        """Keep the rows whose behaviour is new and whose values stay small."""
        small = (np.abs(values) < MAX_MAGNITUDE).all(axis=1)
        keys = (values.astype(np.uint64) * self.weights).sum(axis=1)
        keep = []
        for index in np.flatnonzero(small):
            key = int(keys[index])
            if key not in self.seen:
                self.seen.add(key)
                keep.append(index)
        return values[keep], [programs[i] for i in keep]

    def _check(self, level: tuple[np.ndarray, list[Program]]) -> tuple[Program, int] | None:
        values, programs = level
        if not programs:
            return None
        matches = (values == self.target[self.sample]).sum(axis=1)
        for index in np.flatnonzero(matches >= self.sample_needed):
            full = evaluate(programs[index], self.variables, len(self.target))
            agreement = int((full == self.target).sum())
            if agreement >= self.needed:
                return programs[index], agreement
        return None


def evaluate(program: Program, variables: dict[str, np.ndarray], n: int) -> np.ndarray:
    """A program's values on every point."""
    kind = program[0]
    if kind == "var":
        return variables[program[1]].astype(np.int64)
    if kind == "const":
        return np.full(n, program[1], dtype=np.int64)
    if kind == "not":
        return 1 - evaluate(program[1], variables, n)
    if kind == "select":
        condition, then, otherwise = (evaluate(p, variables, n) for p in program[1:])
        return np.where(condition != 0, then, otherwise)
    left, right = (evaluate(p, variables, n) for p in program[1:])
    return BINARY[kind][0](left, right)


def to_sympy(program: Program) -> sympy.Expr:
    """The program as a sympy expression over integer symbols (0/1 logic as arithmetic)."""
    kind = program[0]
    if kind == "var":
        return sympy.Symbol(program[1], integer=True)
    if kind == "const":
        return sympy.Integer(program[1])
    if kind == "not":
        return 1 - to_sympy(program[1])
    if kind == "select":
        condition = _RELATIONS[program[1][0]](*(to_sympy(p) for p in program[1][1:]))
        return sympy.Piecewise((to_sympy(program[2]), condition), (to_sympy(program[3]), True))
    x, y = (to_sympy(p) for p in program[1:])
    return _SYMPY[kind](x, y)


_COMPARISONS = ("lt", "le", "eq")
_RELATIONS = {"lt": sympy.StrictLessThan, "le": sympy.LessThan, "eq": sympy.Eq}


def _indicator(condition: sympy.Basic) -> sympy.Expr:
    return sympy.Piecewise((1, condition), (0, True))


_SYMPY: dict[str, Callable[[sympy.Expr, sympy.Expr], sympy.Expr]] = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "mod": sympy.Mod,
    "floordiv": lambda x, y: sympy.floor(x / y),
    "min": sympy.Min,
    "max": sympy.Max,
    "lt": lambda x, y: _indicator(sympy.StrictLessThan(x, y)),
    "le": lambda x, y: _indicator(sympy.LessThan(x, y)),
    "eq": lambda x, y: _indicator(sympy.Eq(x, y)),
    "and": lambda x, y: x * y,
    "or": sympy.Max,
    "xor": lambda x, y: sympy.Mod(x + y, 2),
}
