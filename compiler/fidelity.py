"""Measure a rewrite or a compiled artifact against the original network, and judge it: the one
place that says how errors are measured (`relative_errors`) and when an approximation may stand
in for the network (`Gate`). Passes get the gate through their context; verification uses it too.

Relative error is max |artifact - network| / max |network| over all outputs and points: error
relative to the output's scale, so outputs that cross zero do not inflate it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import FidelityError, InputError
from .options import Options, OutputSemantics

__all__ = [
    "Fidelity",
    "Gate",
    "RelativeErrors",
    "check",
    "decide",
    "default_tolerance",
    "measure",
    "relative_errors",
]


@dataclass(frozen=True)
class RelativeErrors:
    """An approximation's error against the network: RMSE relative to the network output's RMS,
    max error relative to its largest magnitude, and RMSE relative to the output's spread (its
    standard deviation: how much of what the network does the formula leaves unexplained)."""

    rel_rmse: float
    max_rel: float
    rel_spread: float = math.inf


def relative_errors(values: np.ndarray, network: np.ndarray) -> RelativeErrors:
    """The one error measure of approximations (formulas, pruning); inf when values are not finite."""
    values = np.asarray(values, dtype=np.float64)
    network = np.asarray(network, dtype=np.float64)
    if values.shape != network.shape or not np.all(np.isfinite(values)):
        return RelativeErrors(math.inf, math.inf)
    error = values - network
    with np.errstate(over="ignore"):  # a candidate near its pole: inf, which no gate accepts
        rmse = float(np.sqrt(np.mean(error**2)))
    rms = float(np.sqrt(np.mean(network**2))) or 1.0
    scale = float(np.abs(network).max()) or 1.0
    spread = float(np.std(network)) or rms
    return RelativeErrors(rmse / rms, float(np.abs(error).max()) / scale, rmse / spread)


PRUNING_SAFETY = 0.5
# A law explains the network down to the network's own error with constants that are simple
# numbers (a description of at most LAW_BITS bits in all: 1/(4π) takes 5.5, a fitted float 16);
# a fit needs fitted or contrived constants to get close. Calibrated on the calibration half
# of benchmarks/recovery.py (see benchmarks/README.md).
LAW_SPREAD = 3e-2
LAW_BITS = 14.0


@dataclass(frozen=True)
class Gate:
    """When an approximation may stand in for the network, for every pass and for verification:
    a formula within `rmse` and `max` (relative errors), a program whose decisions agree on at
    least `agreement` of the points, a pruned network within `pruning` (max relative error).
    In auto mode a formula must also be a law (`accepts_law`) unless `approximate` allows fits."""

    rmse: float = 1e-2
    max: float = 5e-2
    agreement: float = 0.999
    pruning: float = 1e-3
    approximate: bool = False
    law_spread: float = LAW_SPREAD
    law_bits: float = LAW_BITS

    @classmethod
    def from_options(cls, options: Options) -> Gate:
        limit = options.tolerance or options.gate_max  # verification holds a result to this
        return cls(
            options.gate_rmse,
            options.gate_max,
            options.min_agreement,
            min(options.prune_budget, limit),
            options.approximate_formulas or options.mode == "symbolic",
        )

    def accepts_formula(self, errors: RelativeErrors) -> bool:
        return errors.rel_rmse <= self.rmse and errors.max_rel <= self.max

    def accepts_law(self, errors: RelativeErrors, constant_bits: float) -> bool:
        """A law, not a fit: it passes the gate, leaves at most `law_spread` of the network's
        spread unexplained, and its constants take at most `law_bits` bits to describe."""
        return (
            self.accepts_formula(errors)
            and errors.rel_spread <= self.law_spread
            and constant_bits <= self.law_bits
        )

    def accepts_pruning(self, max_rel: float) -> bool:
        """Pruning is measured on samples: it may use half the budget, the rest is margin for
        points it did not see."""
        return max_rel <= PRUNING_SAFETY * self.pruning

    def required_agreement(self, points: int) -> int:
        """Points on which an approximate program's decisions must match the network's."""
        return math.ceil(self.agreement * points)

    def describe(self) -> str:
        text = f"rel RMSE ≤ {self.rmse:g}, max rel error ≤ {self.max:g}"
        if self.approximate:
            return text + " (approximate formulas allowed)"
        return (
            f"{text}, and a law: error ≤ {self.law_spread:g} of the output's spread, constants "
            f"of at most {self.law_bits:g} bits"
        )


@dataclass(frozen=True)
class Fidelity:
    """Measured agreement between artifact and network on `points` points of the domain."""

    points: int
    domain_size: int | None  # None: continuous
    complete: bool  # every point of the domain was checked
    max_abs: float | None  # None: the artifact has no raw output (a closed-form decision)
    max_rel: float | None
    rmse: float | None
    tolerance: float
    agreement: int | None = None  # argmax/threshold: points where the decision matches
    disagreements: tuple[tuple[Any, Any, Any], ...] = ()  # (input point, network, artifact)
    ties: int = 0  # disagreements where the network's own margin is within the measured error
    required: int | None = None  # agreement needed to pass (every point unless a program was kept)

    @property
    def passed(self) -> bool:
        values_ok = self.max_rel is None or self.max_rel <= self.tolerance
        needed = self.points if self.required is None else self.required
        decisions_ok = self.agreement is None or self.agreement + self.ties >= needed
        return values_ok and decisions_ok

    def summary(self) -> str:
        where = (
            f"every point of the domain ({self.points})"
            if self.complete
            else f"{self.points} sampled points"
        )
        parts = []
        if self.max_abs is not None:
            parts.append(
                f"max abs error {self.max_abs:.3g}, max rel error {self.max_rel:.3g} "
                f"(tolerance {self.tolerance:.0e})"
            )
        if self.agreement is not None:
            ties = f", {self.ties} ties within rounding" if self.ties else ""
            parts.append(f"decisions agree on {self.agreement}/{self.points}{ties}")
        return f"verified on {where}: " + "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "points": self.points,
            "domain_size": self.domain_size,
            "complete": self.complete,
            "max_abs_error": self.max_abs,
            "max_rel_error": self.max_rel,
            "rmse": self.rmse,
            "tolerance": self.tolerance,
            "agreement": self.agreement,
            "ties": self.ties,
            "required_agreement": self.required,
            "passed": self.passed,
            "disagreements": [list(d) for d in self.disagreements],
        }


def default_tolerance(dtype: str) -> float:
    """1e-5 for float32 networks, 1e-9 for float64 (nnc computes in double either way)."""
    return 1e-9 if dtype == "float64" else 1e-5


def measure(
    network: np.ndarray,
    raw: np.ndarray | None,
    decisions: np.ndarray | None,
    semantics: OutputSemantics,
    tolerance: float,
    domain_size: int | None,
    complete: bool,
    required: int | None = None,
    points: np.ndarray | None = None,
) -> Fidelity:
    """Compare the artifact's raw outputs and/or decisions with the network's on the same points."""
    max_abs = max_rel = rmse = None
    if raw is not None:
        if network.shape != raw.shape:
            raise InputError(
                f"the network gives outputs of shape {network.shape[1:]} per sample "
                f"at batch size {len(network)}, the compiled graph {raw.shape[1:]}",
                hint="the model's output must keep the batch dimension first",
            )
        error = np.abs(raw - network)
        max_abs = float(error.max()) if error.size else 0.0
        scale = float(np.abs(network).max()) if network.size else 0.0
        max_rel = max_abs / scale if scale > 0 else max_abs
        rmse = float(np.sqrt(np.mean(error**2))) if error.size else 0.0
        if np.isnan(raw).any() != np.isnan(network).any() or not np.isfinite(max_abs):
            max_rel = max_abs = float("inf")
    agreement, mismatched, ties = None, (), 0
    if decisions is not None:
        expected, margin = (
            decide(network, semantics) if semantics.kind != "raw" else (network, None)
        )
        expected = np.asarray(expected).reshape(len(network), -1)
        wrong = np.flatnonzero((expected != decisions.reshape(expected.shape)).any(axis=1))
        agreement = len(network) - len(wrong)
        if margin is not None and max_abs is not None:
            ties = int(np.sum(margin[wrong] <= 2 * max_abs))
        got = decisions.reshape(expected.shape)
        where = (lambda i: _scalar(points[i])) if points is not None else int
        mismatched = tuple((where(i), _scalar(expected[i]), _scalar(got[i])) for i in wrong[:1000])
    return Fidelity(
        len(network),
        domain_size,
        complete,
        max_abs,
        max_rel,
        rmse,
        tolerance,
        agreement,
        mismatched,
        ties,
        required,
    )


def _scalar(row: np.ndarray) -> Any:
    values = [int(v) if float(v).is_integer() else v for v in np.ravel(row).tolist()]
    return values[0] if len(values) == 1 else values


def decide(network: np.ndarray, semantics: OutputSemantics) -> tuple[np.ndarray, np.ndarray]:
    """The network's decisions and how far each is from flipping (its margin)."""
    flat = network.reshape(len(network), -1)
    if semantics.kind == "argmax":
        ordered = np.sort(network, axis=-1)
        margin = (ordered[..., -1] - ordered[..., -2]) if network.shape[-1] > 1 else np.inf
        margin = np.broadcast_to(margin, network.shape[:-1]).reshape(len(network), -1).min(axis=1)
        return network.argmax(axis=-1), margin
    assert semantics.threshold is not None
    margin = np.abs(flat - semantics.threshold).min(axis=1)
    return network > semantics.threshold, margin


def check(fidelity: Fidelity, accept_mismatch: bool, approximate: bool) -> None:
    """Raise FidelityError with the figures unless verification passed or a mismatch is accepted;
    a failure with only exact passes is nnc's bug, with approximate ones a result to accept or not."""
    if fidelity.passed or accept_mismatch:
        return
    details = fidelity.summary()
    if fidelity.disagreements:
        shown = ", ".join(
            f"input {i}: network {a}, artifact {b}" for i, a, b in fidelity.disagreements[:3]
        )
        details += f"; first disagreements: {shown}"
    why = (
        "an approximate pass (see the report) moved the result beyond the tolerance; use mode "
        "exact, raise the tolerance, or pass"
        if approximate
        else "every pass was exact, so this is a bug in nnc: please report it; pass"
    )
    raise FidelityError(
        f"the compiled artifact does not match the network: {details}",
        hint=f"{why} accept_mismatch=True (--accept-mismatch) to keep the artifact anyway",
    )
