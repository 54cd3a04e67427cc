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

__all__ = ["Fidelity", "measure", "check", "run_model", "default_tolerance"]

CHUNK = 4096  # samples per model call while verifying


@dataclass(frozen=True)
class Fidelity:
    """Measured agreement between artifact and network on `points` points of the domain."""

    points: int
    domain_size: int | None  # None: continuous
    complete: bool  # every point of the domain was checked
    max_abs: float
    max_rel: float
    rmse: float
    tolerance: float
    agreement: int | None = None  # argmax/threshold: points where the decision matches
    disagreements: tuple[tuple[int, Any, Any], ...] = ()  # (point index, network, artifact)
    ties: int = 0  # disagreements where the network's own margin is within the measured error

    @property
    def passed(self) -> bool:
        decisions_ok = self.agreement is None or self.agreement + self.ties == self.points
        return self.max_rel <= self.tolerance and decisions_ok

    def summary(self) -> str:
        where = (f"all {self.points} points of the domain" if self.complete
                 else f"{self.points} sampled points")
        line = (f"verified on {where}: max abs error {self.max_abs:.3g}, max rel error "
                f"{self.max_rel:.3g} (tolerance {self.tolerance:.0e})")
        if self.agreement is not None:
            line += f", decisions agree on {self.agreement}/{self.points}"
            if self.ties:
                line += f" ({self.ties} ties within rounding)"
        return line

    def to_json(self) -> dict[str, Any]:
        return {
            "points": self.points, "domain_size": self.domain_size, "complete": self.complete,
            "max_abs_error": self.max_abs, "max_rel_error": self.max_rel, "rmse": self.rmse,
            "tolerance": self.tolerance, "agreement": self.agreement, "ties": self.ties,
            "passed": self.passed,
        }


def default_tolerance(dtype: str) -> float:
    """1e-5 for float32 networks, 1e-9 for float64 (nnc computes in double either way)."""
    return 1e-9 if dtype == "float64" else 1e-5


def run_model(model: Callable[..., Any], inputs: Sequence[np.ndarray],
              batch: int | None = None) -> np.ndarray:
    """The network's output on the points, as float64 (n, *per-sample shape), `batch` at a time."""
    n, step = len(inputs[0]), batch or CHUNK
    outputs = []
    with torch.no_grad(), eval_mode(model):
        for start in range(0, n, step):
            chunk = [torch.from_numpy(np.ascontiguousarray(a[start : start + step])) for a in inputs]
            out = model(*chunk)
            if not isinstance(out, torch.Tensor):
                raise InputError(f"the model returned {type(out).__name__}, not a tensor",
                                 hint="wrap the model so forward returns a single tensor")
            outputs.append(out.detach().double().numpy())
    return np.concatenate(outputs)


def measure(
    network: np.ndarray,
    raw: np.ndarray,
    decisions: np.ndarray | None,
    semantics: OutputSemantics,
    tolerance: float,
    domain_size: int | None,
    complete: bool,
) -> Fidelity:
    """Compare the artifact's raw outputs (and decisions, for argmax/threshold) with the network's."""
    if network.shape != raw.shape:
        raise InputError(f"the network gives outputs of shape {network.shape[1:]} per sample at "
                         f"batch size {len(network)}, the compiled graph {raw.shape[1:]}",
                         hint="the model's output must keep the batch dimension first")
    error = np.abs(raw - network)
    max_abs = float(error.max()) if error.size else 0.0
    scale = float(np.abs(network).max()) if network.size else 0.0
    max_rel = max_abs / scale if scale > 0 else max_abs
    rmse = float(np.sqrt(np.mean(error**2))) if error.size else 0.0
    if np.isnan(raw).any() != np.isnan(network).any() or not np.isfinite(max_abs):
        max_rel = max_abs = float("inf")
    agreement, mismatched, ties = None, (), 0
    if decisions is not None:
        expected, margin = _decide(network, semantics)
        wrong = np.flatnonzero(expected != decisions.reshape(expected.shape))
        agreement = len(network) - len(wrong)
        ties = int(np.sum(margin[wrong] <= 2 * max_abs))
        mismatched = tuple((int(i), expected[i].tolist(), decisions[i].tolist()) for i in wrong[:20])
    return Fidelity(len(network), domain_size, complete, max_abs, max_rel, rmse, tolerance,
                    agreement, mismatched, ties)


def _decide(network: np.ndarray, semantics: OutputSemantics) -> tuple[np.ndarray, np.ndarray]:
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
        shown = ", ".join(f"point {i}: network {a}, artifact {b}"
                          for i, a, b in fidelity.disagreements[:3])
        details += f"; first disagreements: {shown}"
    raise FidelityError(
        f"the compiled artifact does not match the network: {details}",
        hint="report this: in exact mode it is a bug in nnc; pass accept_mismatch=True "
        "(--accept-mismatch) to keep the artifact anyway",
    )
