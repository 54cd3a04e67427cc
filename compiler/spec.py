"""Input specs as data: each input's name, dtype, per-sample shape and domain.

A domain is stored per tensor — one Range or Values for every element, per-element domains only
where the spec lists them, or calibration samples — so `x:float[100000000]=0..1` costs what
`x:float[3]=0..1` costs. Per-element questions (names, bounds, constants) are answered with
arrays, or one element at a time, never with one object per element.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError
from .physical_units import Unit

__all__ = ["COUNT_CAP", "Element", "InputSpec", "Range", "Values", "integer_dtype", "numpy_dtype"]

COUNT_CAP = 2**64  # point counts saturate here: "2**64" reads "2**64 or more"


@dataclass(frozen=True)
class Range:
    """Every value from lo to hi inclusive: a continuous interval, or consecutive integers."""

    lo: float
    hi: float

    def ends(self) -> tuple[float, float]:
        return self.lo, self.hi

    def first(self) -> float:
        return self.lo


@dataclass(frozen=True)
class Values:
    """Only the listed values (a constant is a single value)."""

    values: tuple[float, ...]

    def ends(self) -> tuple[float, float]:
        return min(self.values), max(self.values)

    def first(self) -> float:
        return self.values[0]


@dataclass(frozen=True)
class Element:
    """One scalar element of an input: its name (as in expressions and the C ABI) and domain."""

    name: str
    domain: Range | Values
    unit: Unit | None = None  # a physical unit, when the spec gives one

    @property
    def constant(self) -> float | None:
        return _constant(self.domain)


@dataclass(frozen=True)
class InputSpec:
    """One model input: name, dtype, per-sample shape, and its domain — `domain` for every
    element, `listed` per-element names and domains, or `calibration` samples (n, *shape)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    domain: Range | Values | None = None
    listed: tuple[Element, ...] = ()
    calibration: np.ndarray | None = None
    text: str = ""
    unit: Unit | None = None  # every element's physical unit, when the spec gives one

    def __post_init__(self) -> None:
        given = (self.domain is not None, bool(self.listed), self.calibration is not None)
        if sum(given) != 1:
            raise InputError(
                f"input {self.name!r}: give exactly one of domain, listed or calibration",
                hint="build specs with nnc.spec_grammar.parse_spec('x:float[3]=0..1')",
            )
        if any(not isinstance(d, int) or d < 1 for d in self.shape):
            raise InputError(f"input {self.name!r}: shape {self.shape} needs positive sizes")
        if self.listed and len(self.listed) != self.numel:
            raise InputError(
                f"input {self.name!r} lists {len(self.listed)} elements, its shape "
                f"{self.shape} has {self.numel}"
            )

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def integer(self) -> bool:
        return integer_dtype(self.dtype)

    # --- one element at a time -----------------------------------------------------------
    def element_name(self, index: int) -> str:
        """The name of flat element `index`: listed, the input's own for a scalar, else x<i>."""
        if self.listed:
            return self.listed[index].name
        return self.name if self.shape == () else f"{self.name}{index}"

    def element_domain(self, index: int) -> Range | Values:
        """The domain of flat element `index` (calibration: the samples' range)."""
        if self.domain is not None:
            return self.domain
        if self.listed:
            return self.listed[index].domain
        lo, hi = self.bounds()
        return Range(float(lo[index]), float(hi[index]))

    def element_unit(self, index: int) -> Unit | None:
        """The physical unit of flat element `index`, or None when the spec gives none."""
        return self.listed[index].unit if self.listed else self.unit

    def element(self, index: int) -> Element:
        return Element(
            self.element_name(index), self.element_domain(index), self.element_unit(index)
        )

    def element_names(self) -> list[str]:
        """Every element's name, in flat order (numel strings: ask only for small inputs)."""
        return [self.element_name(i) for i in range(self.numel)]

    # --- every element at once, as arrays --------------------------------------------------
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-element smallest and largest values, float64 arrays of numel."""
        if self.calibration is not None:
            flat = np.asarray(self.calibration, dtype=np.float64).reshape(len(self.calibration), -1)
            return flat.min(axis=0), flat.max(axis=0)
        if self.domain is not None:
            lo, hi = self.domain.ends()
            return np.full(self.numel, lo), np.full(self.numel, hi)
        ends = np.array([e.domain.ends() for e in self.listed], dtype=np.float64)
        return ends[:, 0].copy(), ends[:, 1].copy()

    def constants(self) -> np.ndarray:
        """Per-element value of the elements the spec fixes, NaN where an element is free."""
        if self.calibration is not None:
            return np.full(self.numel, np.nan)
        if self.domain is not None:
            value = _constant(self.domain)
            return np.full(self.numel, np.nan if value is None else value)
        return np.array([np.nan if e.constant is None else e.constant for e in self.listed])

    def first_values(self) -> np.ndarray:
        """One point of the domain, flat: every element's first value (the first sample)."""
        if self.calibration is not None:
            return np.asarray(self.calibration[0], dtype=np.float64).reshape(-1)
        if self.domain is not None:
            return np.full(self.numel, self.domain.first())
        return np.array([e.domain.first() for e in self.listed], dtype=np.float64)

    def value_sets(self) -> bool:
        """Whether some element takes only listed values (more than one): no range to clamp into."""
        domains = [self.domain] if self.domain is not None else [e.domain for e in self.listed]
        return any(isinstance(d, Values) and len(d.values) > 1 for d in domains)

    def element_count(self) -> int | None:
        """How many distinct points this input takes (saturating at COUNT_CAP), or None when the
        domain is continuous."""
        if self.calibration is not None:
            return len(self.calibration)
        if self.domain is not None:
            count = _count(self.domain, self.integer)
            if count is None or count == 1:
                return count
            bits = self.numel * math.log2(count)
            return COUNT_CAP if bits >= math.log2(COUNT_CAP) else min(count**self.numel, COUNT_CAP)
        total = 1
        for element in self.listed:
            count = _count(element.domain, self.integer)
            if count is None:
                return None
            total = min(total * count, COUNT_CAP)
        return total

    def to_json(self) -> dict[str, Any]:
        """The spec as recorded in artifact metadata (no file paths: calibration is summarised)."""
        out: dict[str, Any] = {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}
        if self.calibration is not None:
            out["calibration_samples"] = len(self.calibration)
            return out
        if self.domain is not None:
            out["domain"] = _domain_json(self.domain, self.unit)
        else:
            out["elements"] = [
                {"name": e.name, **_domain_json(e.domain, e.unit)} for e in self.listed
            ]
        out["spec"] = self.text
        return out


def _constant(domain: Range | Values) -> float | None:
    return domain.values[0] if isinstance(domain, Values) and len(domain.values) == 1 else None


def _count(domain: Range | Values, integer: bool) -> int | None:
    if isinstance(domain, Values):
        return len(domain.values)
    return int(domain.hi) - int(domain.lo) + 1 if integer else None


def _domain_json(domain: Range | Values, unit: Unit | None) -> dict[str, Any]:
    out: dict[str, Any] = (
        {"range": [domain.lo, domain.hi]}
        if isinstance(domain, Range)
        else {"values": list(domain.values)}
    )
    return out if unit is None else {**out, "unit": unit.text}


def integer_dtype(dtype: str) -> bool:
    """Integer-valued specs: int types and bool (this module stays free of torch, like ops.py's
    is_integer_dtype it mirrors for the spec's own dtype names)."""
    return dtype.startswith("int") or dtype == "bool"


def numpy_dtype(dtype: str) -> np.dtype:
    return np.dtype("bool" if dtype == "bool" else dtype)
