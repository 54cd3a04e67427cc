"""Sparse Fourier forms of functions on an enumerated integer grid: a unit's values on every point
of the domain, transformed over all its free input elements at once, and the fewest frequency
terms whose sum passes the gate.

On a grid of n_1 × … × n_d points the Fourier basis is complete and orthogonal, so the best
m-term approximation is the m strongest terms (Parseval): the search is a sort, not a guess. A
term is a frequency vector k with its conjugate −k, i.e. A·cos(2π Σ k_i t_i / n_i + φ) with
t_i = v_i − lo_i; its *form* is the integer combination it reads (14a + 14b = 14·(a + b)).
Nothing about the frequencies is assumed: a unit whose values need more than MAX_PAIRS terms
gets no formula, and its nearest form is shown with its error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sympy
from nnc.closed_form import readable
from nnc.fanout import keep_large_arrays_on_the_heap
from nnc.fidelity import Gate, RelativeErrors, relative_errors

__all__ = [
    "MAX_PAIRS",
    "FourierWork",
    "Grid",
    "UnitForm",
    "fourier_forms",
    "frequency_label",
    "written",
]

MAX_PAIRS = 6  # frequency terms (each a cos/sin pair) a unit's form may have
NEGLIGIBLE = 1e-9  # a cos or sin coefficient this small against its term's amplitude is rounding


@dataclass(frozen=True)
class Grid:
    """The enumerated free input elements: names, lowest values and sizes, in enumeration order
    (the last varies fastest)."""

    names: tuple[str, ...]
    lows: tuple[int, ...]
    sizes: tuple[int, ...]


@dataclass(frozen=True)
class UnitForm:
    """One unit's closed form (`passed`) or its nearest form within MAX_PAIRS terms (not
    `passed`), with its errors against the unit on every point and the form it shares. The
    formula travels as text, written where it was found: a sympy expression is rebuilt and
    re-evaluated when unpickled (80 ms for a work unit's 64 units), and writing them out in the
    driver (0.19 s per 64) ran after every search, one unit at a time."""

    unit: int
    formula: str  # `written`: a clipped unit's is max(0, form)
    clipped: bool
    errors: RelativeErrors
    passed: bool
    form: tuple[str, ...]  # the terms' frequency combinations, e.g. ("14·a", "14·(a + b)")
    frequencies: tuple[int, ...]  # the base frequencies of those terms


def written(expr: sympy.Expr, clipped: bool) -> str:
    """A unit's formula as the report writes it: max(0, expr) for a clipped unit, a Max built
    unevaluated (evaluated, sympy writes it in another spelling)."""
    return readable(sympy.Max(0, expr, evaluate=False) if clipped else expr)


@dataclass(frozen=True)
class FourierWork:
    """A work unit: some units' values on every grid point; fitted is what the Fourier terms
    approximate (a clipped unit's pre-activation), values what the formula must match. Built by
    `packed`, it carries no more than a worker cannot derive exactly (on a cluster every byte
    travels through the scheduler, and 100 MB of units took longer to move than to search)."""

    grid: Grid
    first: int  # index of the first unit
    fitted: np.ndarray  # (units, points), float32 where that holds every value exactly
    values: np.ndarray | None  # (units, points); None: fitted, or max(0, fitted) if clipped
    clipped: bool  # the unit is max(0, fitted)
    gate: Gate

    @classmethod
    def packed(
        cls,
        grid: Grid,
        first: int,
        fitted: np.ndarray,
        values: np.ndarray,
        clipped: bool,
        gate: Gate,
    ) -> FourierWork:
        """The work unit for float64 `fitted` and `values`: values are left out when the worker
        derives the same bits, and each array travels in float32 if it holds it exactly."""
        derived = np.maximum(fitted, 0) if clipped else fitted
        shipped = None if _same_bits(values, derived) else _narrowest(values)
        return cls(grid, first, _narrowest(fitted), shipped, clipped, gate)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """fitted and values in float64, the same bits as the arrays it was packed from."""
        fitted = self.fitted.astype(np.float64)
        if self.values is not None:
            return fitted, self.values.astype(np.float64)
        return fitted, np.maximum(fitted, 0) if self.clipped else fitted


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal bit for bit (unlike ==, tells 0.0 from -0.0 and compares NaNs)."""
    bits = f"u{a.itemsize}"
    return a.dtype == b.dtype and np.array_equal(a.view(bits), b.view(bits))


def _narrowest(array: np.ndarray) -> np.ndarray:
    """A C-ordered float32 copy of a float64 array if it converts back to the same bits."""
    narrow = np.ascontiguousarray(array, dtype=np.float32)
    return narrow if _same_bits(narrow.astype(np.float64), array) else np.ascontiguousarray(array)


def fourier_forms(work: FourierWork) -> list[UnitForm]:
    """Each unit's fewest-term Fourier form that passes the gate, or its nearest one."""
    keep_large_arrays_on_the_heap()
    fitted, values = work.arrays()
    return [
        _unit_form(work, work.first + i, unit_fitted, unit_values)
        for i, (unit_fitted, unit_values) in enumerate(zip(fitted, values))
    ]


def _unit_form(work: FourierWork, unit: int, fitted: np.ndarray, values: np.ndarray) -> UnitForm:
    grid = work.grid
    shape = grid.sizes
    spectrum = np.fft.fftn(fitted.reshape(shape)) / fitted.size
    phases = _phases(shape)
    approximation = np.full(shape, spectrum.flat[0].real)
    pairs: list[tuple[int, ...]] = []
    errors = _errors(approximation, values, work.clipped)
    for k in _strongest_pairs(spectrum, MAX_PAIRS):
        theta = sum(ki * p for ki, p in zip(k, phases))
        approximation = approximation + 2 * np.real(spectrum[k] * np.exp(1j * theta))
        pairs.append(k)
        errors = _errors(approximation, values, work.clipped)
        if work.gate.accepts_formula(errors):
            break
    vectors = [_signed(k, shape) for k in pairs]
    expr = _expression(grid, spectrum, pairs, vectors)
    form = tuple(sorted({frequency_label(v, grid.names) for v in vectors}))
    frequencies = tuple(sorted({math.gcd(*v) for v in vectors}))
    passed = work.gate.accepts_formula(errors)
    return UnitForm(
        unit, written(expr, work.clipped), work.clipped, errors, passed, form, frequencies
    )


def _errors(approximation: np.ndarray, values: np.ndarray, clipped: bool) -> RelativeErrors:
    form = np.maximum(approximation, 0) if clipped else approximation
    return relative_errors(form.ravel(), values)


def _phases(shape: tuple[int, ...]) -> list[np.ndarray]:
    """2π t_i / n_i on the grid, one array per axis (broadcast)."""
    out = []
    for axis, n in enumerate(shape):
        view = [1] * len(shape)
        view[axis] = n
        out.append((2 * np.pi * np.arange(n) / n).reshape(view))
    return out


def _strongest_pairs(spectrum: np.ndarray, count: int) -> list[tuple[int, ...]]:
    """The `count` strongest non-constant frequencies, one of each conjugate pair ±k."""
    shape = spectrum.shape
    chosen: list[tuple[int, ...]] = []
    seen: set[tuple[int, ...]] = set()
    for flat in np.argsort(-np.abs(spectrum).ravel(), kind="stable"):
        k = tuple(int(i) for i in np.unravel_index(flat, shape))
        conjugate = tuple((-ki) % n for ki, n in zip(k, shape))
        if not any(k) or k in seen or conjugate in seen or k == conjugate:
            continue
        seen.add(k)
        chosen.append(k)
        if len(chosen) == count:
            break
    return chosen


def _centred(k: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """The frequency vector with entries in (−n/2, n/2]."""
    return tuple(ki if ki <= n // 2 else ki - n for ki, n in zip(k, shape))


def _signed(k: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """The centred frequency vector of the pair ±k whose first non-zero entry is positive."""
    signed = _centred(k, shape)
    first = next(v for v in signed if v)
    return signed if first > 0 else tuple(-v for v in signed)


def frequency_label(vector: tuple[int, ...], names: tuple[str, ...]) -> str:
    """14·(a + b) for (14, 14), 3·a for (3, 0), 2·(a − 3b) for (2, −6)."""
    g = math.gcd(*vector)
    parts = []
    for coefficient, name in zip((v // g for v in vector), names):
        if coefficient:
            size = "" if abs(coefficient) == 1 else str(abs(coefficient))
            sign = "−" if coefficient < 0 else "+"
            parts.append((sign, f"{size}{name}"))
    inner = " ".join(f"{s} {t}" for s, t in parts).removeprefix("+ ")
    inner = f"({inner})" if len(parts) > 1 else inner
    return inner if g == 1 else f"{g}·{inner}"


def _expression(
    grid: Grid,
    spectrum: np.ndarray,
    pairs: list[tuple[int, ...]],
    vectors: list[tuple[int, ...]],
) -> sympy.Expr:
    """mean + Σ (c cos θ + s sin θ), θ = 2π Σ k_i (v_i − lo_i) / n_i, over the input elements."""
    symbols = [sympy.Symbol(name, integer=True) for name in grid.names]
    expr = sympy.Float(spectrum.flat[0].real)
    for k, vector in zip(pairs, vectors):
        # F(−k) = conj F(k) for real values: the term written with −k takes the conjugate
        value = spectrum[k] if vector == _centred(k, spectrum.shape) else np.conj(spectrum[k])
        theta = (
            2
            * sympy.pi
            * sum(
                sympy.Rational(v, n) * (s - lo)
                for v, n, s, lo in zip(vector, grid.sizes, symbols, grid.lows)
            )
        )
        for coefficient, wave in ((2 * value.real, sympy.cos), (-2 * value.imag, sympy.sin)):
            if abs(coefficient) > NEGLIGIBLE * abs(value):  # a phase of exactly 0 or π/2
                expr += sympy.Float(coefficient) * wave(theta)
    return expr
