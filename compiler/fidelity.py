"""Measure a compiled artifact against the original network on the domain, and judge it.

Relative error is max |artifact - network| / max |network| over all outputs and points: error
relative to the output's scale, so outputs that cross zero do not inflate it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .errors import FidelityError, InputError
from .modelfile import eval_mode
from .options import OutputSemantics

__all__ = ["Fidelity", "check", "decide", "default_tolerance", "measure", "run_model"]

CHUNK = 4096  # samples per model call while verifying


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


def run_model(
    model: Callable[..., Any], inputs: Sequence[np.ndarray], batch: int | None = None
) -> np.ndarray:
    """The network's output on the points, as float64 (n, *per-sample shape), `batch` at a time."""
    n, step = len(inputs[0]), batch or CHUNK
    outputs = []
    with torch.no_grad(), eval_mode(model):
        for start in range(0, n, step):
            chunk = [
                torch.from_numpy(np.ascontiguousarray(a[start : start + step])) for a in inputs
            ]
            out = model(*chunk)
            if not isinstance(out, torch.Tensor):
                raise InputError(
                    f"the model returned {type(out).__name__}, not a tensor",
                    hint="wrap the model so forward returns a single tensor",
                )
            outputs.append(out.detach().double().numpy())
    return np.concatenate(outputs)


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


def check(fidelity: Fidelity, accept_mismatch: bool) -> None:
    """Raise FidelityError with the figures unless verification passed or a mismatch is accepted."""
    if fidelity.passed or accept_mismatch:
        return
    details = fidelity.summary()
    if fidelity.disagreements:
        shown = ", ".join(
            f"input {i}: network {a}, artifact {b}" for i, a, b in fidelity.disagreements[:3]
        )
        details += f"; first disagreements: {shown}"
    raise FidelityError(
        f"the compiled artifact does not match the network: {details}",
        hint="report this: in exact mode it is a bug in nnc; pass accept_mismatch=True "
        "(--accept-mismatch) to keep the artifact anyway",
    )
