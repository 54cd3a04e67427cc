"""The network's own answers on the domain, computed once per compile: the points, the outputs,
and — for discrete outputs on an enumerated integer domain — the problem the synthesis pass solves."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .domain import Domain, abi_rows
from .errors import InputError
from .fidelity import decide
from .modelfile import LoadedModel
from .ops import is_integer_dtype
from .options import Options
from .spec import InputSpec, Range

__all__ = [
    "VERIFY_BYTES",
    "DiscreteProblem",
    "Reference",
    "affordable_samples",
    "discrete_problem",
    "reference_run",
]

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


VERIFY_BYTES = 512 << 20  # sampled verification points, as the ABI's doubles, stay within this


def affordable_samples(specs: Sequence[InputSpec], options: Options) -> int:
    """options.samples, fewer when that many samples would take more than VERIFY_BYTES (a
    3×224×224 image is 1.2 MB as doubles: 445 of them fit)."""
    per_sample = 8 * max(1, sum(spec.numel for spec in specs))
    return max(1, min(options.samples, VERIFY_BYTES // per_sample))


def reference_run(loaded: LoadedModel, specs: Sequence[InputSpec], options: Options) -> Reference:
    domain = Domain(specs)
    samples = affordable_samples(specs, options)
    points, complete = domain.points(options.enumerate_limit, samples, options.seed)
    start = time.perf_counter()
    network = loaded.run(points)
    seconds = time.perf_counter() - start
    _check_batch_independent(loaded, points, network)
    return Reference(points, complete, domain.size(), network, seconds)


BATCH_RTOL = 1e-4  # a sample's output alone and inside a batch differ by float rounding at most


def _check_batch_independent(
    loaded: LoadedModel, points: list[np.ndarray], network: np.ndarray
) -> None:
    """nnc compiles one sample's computation: a network whose output for a sample depends on the
    other samples of its batch (a sum over the batch, batch-norm in training mode) cannot be
    compiled, and would otherwise fail verification as if nnc were wrong."""
    if len(network) < 2:
        return
    alone = loaded.run([p[:1] for p in points])
    scale = np.abs(network[:1]).max() if network[:1].size else 0.0
    if not np.allclose(alone, network[:1], rtol=BATCH_RTOL, atol=BATCH_RTOL * (1 + scale)):
        raise InputError(
            "the network's output for a sample depends on the other samples of its batch "
            f"(first sample alone: {alone.reshape(-1)[:3].tolist()}, in a batch of "
            f"{len(network)}: {network[:1].reshape(-1)[:3].tolist()})",
            hint="nnc compiles the computation of one sample: reduce over the sample's own "
            "dimensions only, and use eval-mode statistics",
        )


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
