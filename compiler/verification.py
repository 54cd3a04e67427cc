"""Run compiled code on the reference points and measure it against the network's answers: after
each approximate pass (what the pipeline records), for the final artifact (what the compile
promises), and for every entry point of the library a save writes (what ships). Exact results are
held to float rounding, approximate ones to the gate."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .closed_form import is_closed_form
from .fidelity import Fidelity, Gate, default_tolerance, measure
from .graph import Graph
from .options import Options
from .reference import Reference
from .rewrite import remove_dead
from .spec import InputSpec

__all__ = [
    "CompileNative",
    "LibraryEntry",
    "NativeRunner",
    "VerificationPoints",
    "check_against_reference",
    "check_library",
]


class NativeRunner(Protocol):
    """Compiled code for one graph: flat rows (n, input size) as the ABI takes them → outputs."""

    def run(self, x: np.ndarray) -> np.ndarray: ...


class LibraryEntry(NativeRunner, Protocol):
    """One entry point of a built library, named by its symbol, checked on the first `limit`
    verification points (None: all)."""

    symbol: str

    @property
    def limit(self) -> int | None: ...


# graph, input specs, output semantics ("raw", "argmax", "threshold") → runnable native code
CompileNative = Callable[[Graph, Sequence[InputSpec], str], NativeRunner]


@dataclass(frozen=True)
class VerificationPoints:
    """What a compile verified against, kept so that the library a save writes is held to the
    same points and tolerance."""

    reference: Reference
    gate: Gate
    approximate: bool


def check_library(
    entries: Sequence[LibraryEntry],
    graph: Graph,
    specs: Sequence[InputSpec],
    options: Options,
    points: VerificationPoints,
) -> dict[str, Fidelity]:
    """Every entry of a built library (the linked code itself, in each way it can be called) on
    the reference points, held to what the JIT was held to; by symbol."""
    return {
        entry.symbol: check_against_reference(
            graph,
            entry,
            None,
            points.reference,
            specs,
            options,
            points.gate,
            points.approximate,
            entry.limit,
        )
        for entry in entries
    }


def check_against_reference(
    graph: Graph,
    compiled: NativeRunner,
    compile_native: CompileNative | None,
    reference: Reference,
    specs: Sequence[InputSpec],
    options: Options,
    gate: Gate,
    approximate: bool,
    limit: int | None = None,
) -> Fidelity:
    """The compiled graph's outputs on the reference points (the first `limit` of them) against the
    network's: to float rounding when every pass was exact, within the gate otherwise. Under a
    decision head, the faithful network's raw scores are checked too (compiled again with
    `compile_native`), unless an approximate pass changed it (then, as for a program, the
    decisions are what must agree) or `compile_native` is None (a library's entries after its
    JIT passed)."""
    closed_form = is_closed_form(graph)
    n = len(reference.network) if limit is None else min(limit, len(reference.network))
    x = reference.flat[:n]
    network = reference.network[:n]
    outputs = compiled.run(x).reshape(network.shape[:1] + (-1,))
    output_dtype = graph[graph.outputs[0]].dtype
    tolerance = options.tolerance or (gate.max if approximate else default_tolerance(output_dtype))
    required = gate.required_agreement(n) if approximate else None

    def compare(raw: np.ndarray | None, decisions: np.ndarray | None) -> Fidelity:
        return measure(
            network,
            raw,
            decisions,
            options.output,
            tolerance,
            reference.domain_size,
            reference.complete and n == len(reference.network),
            required if decisions is not None else None,
            x,
        )

    if options.output.kind == "raw":
        if closed_form and not output_dtype.startswith("float"):
            return compare(None, outputs)  # an integer program: exact values, point by point
        return compare(outputs.reshape(network.shape), None)
    raw = None
    if not closed_form and not approximate and compile_native is not None:
        scores = graph.copy()
        scores.outputs = [graph[graph.outputs[0]].inputs[0]]
        remove_dead(scores)
        raw = compile_native(scores, specs, "raw").run(x).reshape(network.shape)
    return compare(raw, outputs)
