"""Physical units of inputs and outputs, as exponents of the seven SI base dimensions: what
dimensional analysis needs (symbolic regression on dimensionless groups, passes/dimensions.py).

    kg          mass
    m/s^2       length · time⁻²
    kg*m/s**2   the same as N
    kg m^2 s^-2 juxtaposition multiplies (the same as J)
    1           dimensionless

Unit names are those of sympy.physics.units (SI base and derived units, prefixed forms such as km,
and other units of a dimension such as hour or eV); only the dimension counts, not the scale.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass

from .errors import InputError

__all__ = ["BASE_DIMENSIONS", "UNIT_EXAMPLES", "Unit", "parse_unit", "unit_problem"]

BASE_DIMENSIONS = (
    "length",
    "mass",
    "time",
    "current",
    "temperature",
    "amount_of_substance",
    "luminous_intensity",
)
UNIT_EXAMPLES = "kg, m/s^2, kg*m/s**2, N, J, Pa, V or 1 (dimensionless)"
_TOKEN = re.compile(r"\s*(?:(\*\*|\^)|([*/()])|([A-Za-z_][A-Za-z0-9_]*)|([-+]?\d+))")


@dataclass(frozen=True)
class Unit:
    """A unit as written and its dimension: one integer exponent per BASE_DIMENSIONS entry."""

    text: str
    exponents: tuple[int, ...]

    @property
    def dimensionless(self) -> bool:
        return not any(self.exponents)

    def __str__(self) -> str:
        return self.text


def parse_unit(text: str, where: str = "") -> Unit:
    """The unit `text` names, or an InputError naming it (and `where` it was given) and what is
    accepted."""
    problem = unit_problem(text)
    if isinstance(problem, str):
        raise InputError(
            f"{where + ': ' if where else ''}unit {text[:80]!r}: {problem}",
            hint=f"write units like {UNIT_EXAMPLES} (names of sympy.physics.units)",
        )
    return problem


def unit_problem(text: str) -> Unit | str:
    """The unit `text` names, or why it names none (for callers that point at a column)."""
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        found = _TOKEN.match(text, pos)
        if not found or found.end() == pos:
            return f"cannot read {text[pos:].strip()[:20]!r}"
        tokens.append((found.lastindex, found.group(found.lastindex)))
        pos = found.end()
    if not tokens:
        return "no unit given"
    reader = _Reader(tokens)
    try:
        exponents = reader.product()
        if reader.pos != len(tokens):
            return f"unexpected {tokens[reader.pos][1]!r}"
    except ValueError as error:
        return str(error)
    return Unit(text, tuple(exponents.get(d, 0) for d in BASE_DIMENSIONS))


_POWER, _SYMBOL, _NAME, _INTEGER = 1, 2, 3, 4


class _Reader:
    """product := power (('*' | '/' | nothing) power)*;  power := atom [('^' | '**') integer];
    atom := name | 1 | '(' product ')'."""

    def __init__(self, tokens: list[tuple[int, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[int, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def product(self) -> dict[str, int]:
        total = self.power()
        while (token := self.peek()) is not None and token[1] != ")":
            sign = 1
            if token[1] in "*/" and token[0] == _SYMBOL:
                sign = -1 if token[1] == "/" else 1
                self.pos += 1
            for dimension, exponent in self.power().items():
                total[dimension] = total.get(dimension, 0) + sign * exponent
        return total

    def power(self) -> dict[str, int]:
        base = self.atom()
        token = self.peek()
        if token is None or token[0] != _POWER:
            return base
        self.pos += 1
        exponent = self.peek()
        if exponent is None or exponent[0] != _INTEGER:
            raise ValueError("a whole-number exponent must follow '^' or '**'")
        self.pos += 1
        return {d: e * int(exponent[1]) for d, e in base.items()}

    def atom(self) -> dict[str, int]:
        token = self.peek()
        if token is None:
            raise ValueError("a unit name is missing at the end")
        self.pos += 1
        kind, value = token
        if value == "(":
            inner = self.product()
            if self.peek() != (_SYMBOL, ")"):
                raise ValueError("a ')' is missing")
            self.pos += 1
            return inner
        if kind == _INTEGER and value == "1":
            return {}
        if kind != _NAME:
            raise ValueError(f"expected a unit name, found {value!r}")
        return dict(_dimension(value))


@functools.cache
def _known() -> dict[str, tuple[tuple[str, int], ...]]:
    """Every unit name sympy.physics.units knows → its dimension's base exponents (imported on
    first use: half a second that a spec without units does not pay)."""
    from sympy.physics import units
    from sympy.physics.units.systems.si import SI, dimsys_SI

    known = {}
    for name in dir(units):
        quantity = getattr(units, name)
        if name.startswith("_") or not isinstance(quantity, units.Quantity):
            continue
        dependencies = dimsys_SI.get_dimensional_dependencies(SI.get_quantity_dimension(quantity))
        known[name] = tuple((str(d.name), int(e)) for d, e in dependencies.items())
    return known


def _dimension(name: str) -> tuple[tuple[str, int], ...]:
    known = _known()
    if name not in known:
        close = difflib.get_close_matches(name, list(known), n=3)
        also = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(f"{name!r} is not a unit sympy.physics.units knows{also}")
    return known[name]
