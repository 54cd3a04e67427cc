"""Run compiled code on the reference points and measure it against the network's answers: after
each approximate pass (what the pipeline records) and for the final artifact (what the compile
promises). Exact results are held to float rounding, approximate ones to the gate."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from .closed_form import is_closed_form
from .fidelity import Fidelity, Gate, default_tolerance, measure
from .graph import Graph
from .options import Options
from .reference import Reference
from .rewrite import remove_dead
from .spec import InputSpec

__all__ = ["CompileNative", "NativeRunner", "check_against_reference"]


class NativeRunner(Protocol):
    """Compiled code for one graph: flat rows (n, input size) as the ABI takes them → outputs."""

    def run(self, x: np.ndarray) -> np.ndarray: ...


# graph, input specs, output semantics ("raw", "argmax", "threshold") → runnable native code
CompileNative = Callable[[Graph, Sequence[InputSpec], str], NativeRunner]


def check_against_reference(
    graph: Graph,
    compiled: NativeRunner,
    compile_native: CompileNative,
    reference: Reference,
    specs: Sequence[InputSpec],
    options: Options,
    gate: Gate,
    approximate: bool,
    limit: int | None = None,
) -> Fidelity:
    """The compiled graph's outputs on the reference points (the first `limit` of them) against the
    network's: to float rounding when every pass was exact, within the gate otherwise. Under a
    decision head, the faithful network's raw scores are checked too, unless an approximate pass
    changed it: then, as for a program, the decisions are what must agree."""
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
    if not closed_form and not approximate:  # the faithful network: check its raw values too
        scores = graph.copy()
        scores.outputs = [graph[graph.outputs[0]].inputs[0]]
        remove_dead(scores)
        raw = compile_native(scores, specs, "raw").run(x).reshape(network.shape)
    return compare(raw, outputs)
