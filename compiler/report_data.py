"""What a compile did, as data: per output what it became and how far it is from the network, size
and speed of network and artifact, pass records, verification and stage timings. Every figure in
it was measured. The renderings (summary, HTML, Markdown) read it; `nnc.report.Report` adds them
as methods."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .fidelity import Fidelity
from .graph import Graph
from .pipeline import PassRecord
from .version import __version__

__all__ = [
    "KINDS",
    "Curves",
    "OutputResult",
    "ReportData",
    "Speed",
    "Sweep",
    "automaton_lines",
    "truth_text",
]

# what an output became → how the report says it
KINDS = {
    "network": "the network, kept",
    "exact": "exact form",
    "approximate": "approximate form",
}


def truth_text(truth: dict[str, Any]) -> str:
    """The network's and the artifact's error against labelled data (values) or how many labels
    each decides wrong (decisions), in words."""
    if "network_wrong" in truth:
        return (
            f"of {truth['points']:,} labels the network decides {truth['network_wrong']:,} "
            f"wrong, the artifact {truth['artifact_wrong']:,}"
        )
    return (
        f"network max rel error {truth['network_max_rel_error']:.3g} (RMSE "
        f"{truth['network_rmse']:.3g}), artifact {truth['artifact_max_rel_error']:.3g} (RMSE "
        f"{truth['artifact_rmse']:.3g})"
    )


def automaton_lines(automaton: dict[str, Any]) -> tuple[str, list[str]]:
    """An extracted automaton (the automata pass's evidence) in words: its verdict, then one line
    per check against the network with the strings it disagreed on."""
    verdict = "compiled" if automaton["accepted"] else f"not used: {automaton['reason']}"
    headline = f"{automaton['states']} states over {automaton['alphabet']} ({verdict})."
    if automaton["regex"]:
        headline += f" Strings it accepts: {automaton['regex']}"
    lines = []
    for check in automaton["checks"]:
        how = "every string" if check["complete"] else f"{check['strings']} sampled strings"
        lines.append(
            f"{how} of length {check['lengths'][0]}..{check['lengths'][1]}: agrees with the "
            f"network on {check['agreement']}/{check['strings']}"
            + "".join(f"; {s}: network {n}, automaton {a}" for s, n, a in check["disagreements"])
        )
    return headline, lines


@dataclass(frozen=True)
class OutputResult:
    """What one output element became, and its measured error against the network on the
    verification points (raw values) or its agreement with the network's decisions."""

    name: str  # y[0], or "decision"
    kind: str  # a key of KINDS
    points: int  # verification points it was measured on
    formula: str | None = None  # readable closed form, or a table's description
    expr: Any = None  # the sympy expression, for MathML / LaTeX renderings (not in JSON)
    found_by: str | None = None  # the pass that produced the closed form
    max_abs: float | None = None
    max_rel: float | None = None  # relative to this output's largest magnitude on the points
    rel_rmse: float | None = None  # relative to this output's RMS on the points
    agreement: int | None = None  # decisions equal to the network's
    truth: dict[str, Any] | None = None  # network's and artifact's error against labels

    def errors_text(self) -> str:
        """Its error against the network, in words."""
        if self.agreement is not None:
            return f"decisions agree on {self.agreement:,}/{self.points:,}"
        return (
            f"max rel error {self.max_rel:.2g}, rel RMSE {self.rel_rmse:.2g}, "
            f"max abs error {self.max_abs:.3g}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "formula": self.formula,
            "found_by": self.found_by,
            "points": self.points,
            "max_abs_error": _finite(self.max_abs),
            "max_rel_error": _finite(self.max_rel),
            "rel_rmse": _finite(self.rel_rmse),
            "agreement": self.agreement,
            "truth": _clean(self.truth),
        }


@dataclass(frozen=True)
class Speed:
    """One timed batch call of the network (torch, eager) and of the compiled artifact (from
    Python) on the same verification points, measured once during the compile."""

    points: int
    network_seconds: float
    artifact_seconds: float

    def per_sample(self, seconds: float) -> float:
        return seconds / max(1, self.points)

    def to_json(self) -> dict[str, Any]:
        return {
            "points": self.points,
            "network_seconds": self.network_seconds,
            "artifact_seconds": self.artifact_seconds,
        }


@dataclass(frozen=True)
class Sweep:
    """Network and artifact along one input element, the other elements held at `base`."""

    element: str
    values: np.ndarray  # (m,) the element's values
    network: np.ndarray  # (m, outputs)
    artifact: np.ndarray  # (m, outputs)
    base: dict[str, float]  # the other free elements' values


@dataclass
class Curves:
    """Network and artifact side by side, for the HTML report's pictures (not in JSON)."""

    sweeps: list[Sweep] = field(default_factory=list)
    network: np.ndarray | None = None  # (n, outputs) on the verification points (first n)
    artifact: np.ndarray | None = None  # the artifact's values or decisions there
    decisions: bool = False  # the outputs are classes / booleans / integers
    graph_before: Graph | None = None  # the traced network, output head included
    graph_after: Graph | None = None  # what was compiled


@dataclass
class ReportData:
    """Pass records, verification figures and stage timings of one compile."""

    mode: str
    output: str
    passes: list[PassRecord]
    fidelity: Fidelity
    seconds: dict[str, float] = field(default_factory=dict)  # stage → wall time
    graph: dict[str, int] = field(default_factory=dict)  # final ops and parameters
    closed_form: str | None = None  # the formula (or table) the output became, if any
    truth: dict[str, Any] | None = None  # errors against labelled data, when given
    inputs: list[str] = field(default_factory=list)  # the input specs, as written
    outputs: list[OutputResult] = field(default_factory=list)
    size: dict[str, dict[str, int]] = field(default_factory=dict)  # network/artifact → figures
    speed: Speed | None = None
    gate: dict[str, float] = field(default_factory=dict)  # a formula's gate: rmse, max (relative)
    curves: Curves = field(default_factory=Curves)
    # who ran the independent work (engine, workers, start-up seconds, work units) and the
    # largest domain checked on every point
    fanout: dict[str, Any] | None = None

    def fanout_text(self) -> str | None:
        """Who ran the independent work, and the largest domain checked on every point."""
        if not self.fanout:
            return None
        f = self.fanout
        started = f.get("startup_seconds")
        start = f", started in {started:.2f} s" if started is not None else ""
        return (
            f"fan-out: {f['engine']}, {f['workers']} worker{'s' * (f['workers'] != 1)}{start}, "
            f"{f['tasks']} work units; exhaustive checks up to {f['exhaustive_limit']:,} points "
            "(enumerate_limit per worker)"
        )

    @property
    def result(self) -> str:
        """What the artifact computes: the network, an exact form of it, or a law or an
        approximation standing in for it, with its measured error."""
        if self.closed_form is None:
            return "the network itself (no closed form replaced it)"
        if not any(r.approximate for r in self.passes):
            return "an exact form of the network (equal to it up to float rounding)"
        kinds = {
            value.get("kind")
            for r in self.passes
            for key, value in r.data.items()
            if key.endswith(" result") and isinstance(value, dict)
        }
        label = "a law" if kinds == {"law"} else "an approximation"
        error = self.fidelity.max_rel
        measured = f": max rel error {error:.1e} against it" if error is not None else ""
        return f"{label} of what the network computes{measured}"

    def domain_text(self) -> str:
        """Which points verification checked."""
        f = self.fidelity
        if f.complete:
            return f"every point of the domain ({f.points:,})"
        return f"{f.points:,} points sampled from the domain (range corners included)"

    def requirement_text(self) -> str:
        """What verification required of the artifact."""
        f = self.fidelity
        wanted = []
        if f.max_rel is not None:
            wanted.append(f"max rel error ≤ {f.tolerance:.0e}")
        if f.agreement is not None:
            wanted.append(f"decisions agree on ≥ {f.required or f.points:,} points")
        return " and ".join(wanted)

    def truth_lines(self) -> list[str]:
        """Against labelled data: over all outputs, then per output when there are several, then
        the first wrongly decided inputs."""
        if not self.truth:
            return []
        lines = [f"against the labelled data: {truth_text(self.truth)}"]
        if len(self.outputs) > 1:
            lines += [f"  {o.name}: {truth_text(o.truth)}" for o in self.outputs if o.truth]
        for who in ("network", "artifact"):
            lines += [f"  {who} wrong on {p}" for p in self.truth.get(f"{who}_wrong_inputs", ())]
        return lines

    def to_json(self) -> dict[str, Any]:
        """Everything measured, for machines; docs/report.schema.json describes it."""
        return {
            "nnc_version": __version__,
            "mode": self.mode,
            "output": self.output,
            "inputs": self.inputs,
            "closed_form": self.closed_form,
            "result": self.result,
            "outputs": [o.to_json() for o in self.outputs],
            "verification": _clean(self.fidelity.to_json()),
            "truth": _clean(self.truth),
            "graph": self.graph,
            "size": self.size,
            "speed": self.speed.to_json() if self.speed else None,
            "gate": self.gate,
            "passes": [
                {
                    "name": r.name,
                    "changed": r.changed,
                    "ops": list(r.nodes),
                    "params": list(r.params),
                    "flops": list(r.flops),
                    "seconds": r.seconds,
                    "stats": r.stats,
                    "approximate": r.approximate,
                    "error": _finite(r.fidelity.max_rel) if r.fidelity else None,
                    "notes": r.notes,
                    "data": _clean(r.data),
                }
                for r in self.passes
            ],
            "fanout": self.fanout,
            "seconds": self.seconds,
        }


def _finite(value: float | None) -> float | None:
    """JSON has no infinity or NaN: a value that is not finite is written as null."""
    return value if value is None or math.isfinite(value) else None


def _clean(value: Any) -> Any:
    """Plain JSON values: numpy scalars and arrays as numbers and lists, non-finite floats null."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, np.generic):
        return _clean(value.item())
    if isinstance(value, float):
        return _finite(value)
    return value
