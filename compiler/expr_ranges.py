"""Integer ranges of closed-form expressions over the verified ranges of their symbols: the proof
behind int32 lanes and `mod` as a compare and a subtract (backend), and behind which typed column
entries a library gets (artifact)."""

from __future__ import annotations

import sympy

__all__ = ["fits_int32", "integer_range"]


def integer_range(expr: sympy.Basic, bounds: dict[str, tuple[int, int]]) -> tuple[int, int] | None:
    """Integer bounds of expr given bounds of its symbols, or None when unknown."""
    if expr.is_Integer:
        return int(expr), int(expr)
    if expr.is_Symbol:
        return bounds.get(expr.name)
    parts = [integer_range(a, bounds) for a in expr.args]
    if any(p is None for p in parts):
        return None
    if isinstance(expr, sympy.Add):
        return sum(p[0] for p in parts), sum(p[1] for p in parts)
    if isinstance(expr, sympy.Mul):
        low, high = parts[0]
        for a, b in parts[1:]:
            corners = [low * a, low * b, high * a, high * b]
            low, high = min(corners), max(corners)
        return low, high
    if isinstance(expr, sympy.Mod) and expr.args[1].is_Integer and int(expr.args[1]) > 0:
        return 0, int(expr.args[1]) - 1
    if isinstance(expr, (sympy.Min, sympy.Max)):
        pick = min if isinstance(expr, sympy.Min) else max
        return pick(p[0] for p in parts), pick(p[1] for p in parts)
    return None


def fits_int32(expr: sympy.Basic, bounds: dict[str, tuple[int, int]]) -> bool:
    """Whether every subexpression provably stays within int32 on the verified domain."""
    if expr.is_Relational or isinstance(
        expr, (sympy.Piecewise, sympy.logic.boolalg.BooleanFunction)
    ):
        return False  # conditions are not narrowed (yet)
    interval = integer_range(expr, bounds)
    if interval is None or not (-(2**31) <= interval[0] and interval[1] < 2**31):
        return False
    return all(fits_int32(a, bounds) for a in expr.args)
