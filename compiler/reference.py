"""The network's own answers on the domain, computed once per compile: the points, the outputs,
and — for discrete outputs on an enumerated integer domain — the problem the synthesis pass solves."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .domain import Domain, abi_rows
from .fidelity import decide
from .modelfile import LoadedModel
from .ops import is_integer_dtype
from .options import Options
from .spec import InputSpec, Range
from .torch_model import run_model

__all__ = ["DiscreteProblem", "Reference", "discrete_problem", "reference_run"]

MAX_CONSTANTS = 10


@dataclass(frozen=True)
class DiscreteProblem:
    """A completely enumerated integer domain and the network's decision on every point."""

    variables: dict[str, np.ndarray]  # free input element → its value on every point
    bindings: tuple[tuple[str, int, int], ...]  # element → (name, input position, flat index)
    target: np.ndarray  # the network's class / boolean / integer output on every point
    constants: list[int]  # constants the spec implies (range bounds and sizes, class count)


@dataclass(frozen=True)
class Reference:
    """The domain points nnc checks on and the network's outputs there."""

    points: list[np.ndarray]  # per input, (n, *shape)
    complete: bool  # the points are the whole domain
    domain_size: int | None
    network: np.ndarray  # the network's outputs, float64 (n, *per-sample output shape)
    network_seconds: float = 0.0  # how long the network took to compute them

    @functools.cached_property
    def flat(self) -> np.ndarray:
        """The points as the ABI takes them (computed once: passes and verification share it)."""
        return abi_rows(self.points)


def reference_run(loaded: LoadedModel, specs: Sequence[InputSpec], options: Options) -> Reference:
    domain = Domain(specs)
    points, complete = domain.points(options.enumerate_limit, options.samples, options.seed)
    start = time.perf_counter()
    network = run_model(loaded.module, points, loaded.static_batch)
    return Reference(points, complete, domain.size(), network, time.perf_counter() - start)


def discrete_problem(
    reference: Reference, specs: Sequence[InputSpec], options: Options, output_dtype: str
) -> DiscreteProblem | None:
    """The synthesis problem, or None when the domain is not enumerated, not integer-valued, or the
    output is not one discrete value per sample."""
    semantics = options.output
    integer_output = is_integer_dtype(output_dtype)
    if not reference.complete or not (semantics.kind != "raw" or integer_output):
        return None
    target = (
        decide(reference.network, semantics)[0] if semantics.kind != "raw" else reference.network
    )
    target = np.asarray(target).reshape(len(reference.network), -1)
    if target.shape[1] != 1:
        return None
    variables, bindings, constants = {}, [], {0, 1, 2}
    for position, (spec, points) in enumerate(zip(specs, reference.points)):
        if spec.calibration is not None:
            return None
        flat = points.reshape(len(points), -1)
        for index in np.flatnonzero(np.isnan(spec.constants())).tolist():
            element = spec.element(index)
            values = flat[:, index].astype(np.float64)
            if not np.all(values == np.round(values)):
                return None
            variables[element.name] = values.astype(np.int64)
            bindings.append((element.name, position, index))
            if isinstance(element.domain, Range):
                lo, hi = int(element.domain.lo), int(element.domain.hi)
                constants |= {lo, hi, hi - lo + 1}
    if semantics.kind == "argmax":
        constants.add(reference.network.shape[-1])
    return DiscreteProblem(
        variables, tuple(bindings), target[:, 0].astype(np.int64), sorted(constants)[:MAX_CONSTANTS]
    )
