"""The domain: the product of all inputs' domains, as points nnc checks on — every point when it is
small and discrete, random or space-filling samples otherwise, the rows themselves for calibration
data. An input whose elements share one domain is drawn as one array, not element by element."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import InputError
from .spec import COUNT_CAP, InputSpec, Range, Values, numpy_dtype

__all__ = ["Domain", "abi_rows", "points_bytes"]


class Domain:
    """The product of all inputs' domains: enumeration when small and discrete, sampling otherwise."""

    def __init__(self, specs: Sequence[InputSpec]) -> None:
        self.specs = list(specs)

    @property
    def width(self) -> int:
        """Scalars per point, over all inputs."""
        return sum(s.numel for s in self.specs)

    def size(self) -> int | None:
        """The number of points (saturating at COUNT_CAP), or None when some input is continuous."""
        if any(s.calibration is not None for s in self.specs):
            counts = {len(s.calibration) for s in self.specs if s.calibration is not None}
            if len(counts) > 1:
                raise InputError(
                    f"calibration inputs have different sample counts {sorted(counts)}",
                    hint="give every input the same number of calibration samples",
                )
        total = 1
        for spec in self.specs:
            count = spec.element_count()
            if count is None:
                return None
            total = min(total * count, COUNT_CAP)
        return total

    def point_count(self, limit: int, samples: int) -> int:
        """How many points `points(limit, samples, ...)` returns."""
        if any(s.calibration is not None for s in self.specs):
            return self.size() or 1
        size = self.size()
        return size if size is not None and size <= limit else samples

    def points(self, limit: int, samples: int, seed: int) -> tuple[list[np.ndarray], bool]:
        """Arrays (n, *shape) per input, and whether they cover the whole domain."""
        if any(s.calibration is not None for s in self.specs):
            return self._calibration(), True
        size = self.size()
        if size is not None and size <= limit:
            return self._enumerate(), True
        return self._sample(samples, seed), False

    def space_filling(self, n: int, seed: int) -> list[np.ndarray]:
        """n points spread evenly over the domain (scrambled Sobol), or n calibration rows."""
        if any(s.calibration is not None for s in self.specs):
            rows = np.random.default_rng(seed).choice(self.size() or 1, size=n, replace=True)
            return [p[rows] for p in self._calibration()]
        import torch

        engine = torch.quasirandom.SobolEngine(self.width, scramble=True, seed=seed)
        unit = engine.draw(n, dtype=torch.float64).numpy()
        out, start = [], 0
        for spec in self.specs:
            block = _from_unit(spec, unit[:, start : start + spec.numel])
            out.append(block.reshape(n, *spec.shape).astype(numpy_dtype(spec.dtype)))
            start += spec.numel
        return out

    def _calibration(self) -> list[np.ndarray]:
        n = self.size() or 1
        rng = np.random.default_rng(0)
        return [
            _sample_input(spec, n, rng) if spec.calibration is None else spec.calibration
            for spec in self.specs
        ]

    def enumerate_range(self, start: int, stop: int) -> list[np.ndarray]:
        """Points start .. stop-1 of the enumeration (the last element varies fastest, as in
        itertools.product), computed from their indices: a chunk of a domain too large to hold.
        Fixed elements are filled, not crossed."""
        axes = [
            (position, index, np.asarray(_values(spec.element_domain(index)), dtype=np.float64))
            for position, spec in enumerate(self.specs)
            for index in _varying(spec)
        ]
        point = np.arange(start, stop, dtype=np.int64)
        out = [np.tile(np.nan_to_num(spec.constants()), (len(point), 1)) for spec in self.specs]
        for position, index, values in reversed(axes):
            point, digit = np.divmod(point, len(values))
            out[position][:, index] = values[digit]
        return [
            block.reshape(-1, *spec.shape).astype(numpy_dtype(spec.dtype))
            for block, spec in zip(out, self.specs)
        ]

    def _enumerate(self) -> list[np.ndarray]:
        """Every point, the last element varying fastest."""
        return self.enumerate_range(0, self.size() or 0)

    def _sample(self, n: int, seed: int) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        return [_sample_input(spec, n, rng) for spec in self.specs]


def points_bytes(n: int, width: int) -> int:
    """Memory nnc holds for n points of `width` scalars: the points, their float64 ABI rows and the
    per-input arrays they come from (about three float64 copies)."""
    return 3 * 8 * n * max(width, 1)


def abi_rows(points: list[np.ndarray]) -> np.ndarray:
    """Per-input arrays (n, *shape) as the ABI takes them: (n, sum of input sizes) float64."""
    return np.concatenate([p.reshape(len(p), -1).astype(np.float64) for p in points], axis=1)


def _varying(spec: InputSpec) -> list[int]:
    """Flat indices of the elements that take more than one value."""
    return np.flatnonzero(np.isnan(spec.constants())).tolist()


def _values(domain: Range | Values) -> list[float]:
    if isinstance(domain, Values):
        return list(domain.values)
    return list(range(int(domain.lo), int(domain.hi) + 1))


def _sample_input(spec: InputSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    """n random points of one input; the corners of continuous ranges are always among them.

    NOTE: columns are drawn in element order, each from its own stretch of the generator, so a
    shared domain drawn as one (numel, n) array gives the points element-by-element draws give."""
    if spec.domain is not None:
        data = _draw(spec.domain, spec.integer, rng, (spec.numel, n)).T
    else:
        columns = [_draw(e.domain, spec.integer, rng, (n,)) for e in spec.listed]
        data = np.stack(columns, axis=1)
    return data.reshape(n, *spec.shape).astype(numpy_dtype(spec.dtype))


def _draw(
    domain: Range | Values, integer: bool, rng: np.random.Generator, size: tuple[int, ...]
) -> np.ndarray:
    if isinstance(domain, Values):
        return rng.choice(np.array(domain.values), size=size)
    if integer:
        return rng.integers(int(domain.lo), int(domain.hi), size=size, endpoint=True)
    column = rng.uniform(domain.lo, domain.hi, size=size)
    corners = min(size[-1], 2)
    column[..., :corners] = [domain.lo, domain.hi][:corners]
    return column


def _from_unit(spec: InputSpec, unit: np.ndarray) -> np.ndarray:
    """Map uniform [0, 1) numbers (n, numel) onto the input's element domains."""
    if spec.domain is not None:
        return _scale(spec.domain, spec.integer, unit)
    columns = [_scale(e.domain, spec.integer, unit[:, k]) for k, e in enumerate(spec.listed)]
    return np.stack(columns, axis=1)


def _scale(domain: Range | Values, integer: bool, u: np.ndarray) -> np.ndarray:
    if isinstance(domain, Values):
        values = np.array(domain.values)
        return values[np.minimum((u * len(values)).astype(np.int64), len(values) - 1)]
    if integer:
        count = int(domain.hi) - int(domain.lo) + 1
        return int(domain.lo) + np.minimum((u * count).astype(np.int64), count - 1)
    return domain.lo + u * (domain.hi - domain.lo)
