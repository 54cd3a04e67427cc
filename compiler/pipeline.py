"""Pass registry and driver: run named passes, verify after each, and record what each did."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy

from .errors import InputError, error_context
from .graph import Graph
from .ops import OP_TABLE, Op
from .verify import verify_graph

__all__ = [
    "PASSES",
    "DiscreteProblem",
    "PassContext",
    "PassRecord",
    "flops",
    "register_pass",
    "run_pipeline",
]

PassFunction = Callable[[Graph, "PassContext"], Graph]


@dataclass(frozen=True)
class RegisteredPass:
    name: str
    function: PassFunction
    exact: bool  # exact passes never change the graph's outputs beyond float rounding

    @property
    def description(self) -> str:
        return (self.function.__doc__ or "").strip().splitlines()[0]


PASSES: dict[str, RegisteredPass] = {}


def register_pass(name: str, *, exact: bool) -> Callable[[PassFunction], PassFunction]:
    """Register `fn(graph, ctx) -> graph` under `name` (the name users see in reports and the CLI)."""

    def decorate(function: PassFunction) -> PassFunction:
        PASSES[name] = RegisteredPass(name, function, exact)
        return function

    return decorate


@dataclass(frozen=True)
class DiscreteProblem:
    """A completely enumerated integer domain and the network's decision on every point."""

    variables: dict[str, np.ndarray]  # free input element → its value on every point
    bindings: tuple[tuple[str, int, int], ...]  # element → (name, input position, flat index)
    target: np.ndarray  # the network's class / boolean / integer output on every point
    constants: list[int]  # constants the spec implies (range bounds and sizes, class count)


@dataclass
class PassContext:
    """Everything a pass may use: options, the discrete problem if there is one, a place to count
    and note what it did, and a progress line."""

    options: Any
    discrete: DiscreteProblem | None = None
    progress: Callable[[str], None] = lambda line: None
    specs: Sequence[Any] = ()  # the InputSpecs
    points: np.ndarray | None = None  # the reference points, flat (n, input size) as the ABI takes
    # the original network on any points of the domain: per-input arrays → outputs (n, ...)
    network: Callable[[list[np.ndarray]], np.ndarray] | None = None
    counts: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # structured evidence for the report
    approximated: bool = False  # set by a pass that kept a rewrite which is not exact

    def attach(self, key: str, value: Any) -> None:
        """Keep a measured series (e.g. a spectrum) for the report's plots and JSON."""
        self.data[key] = value

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] += n

    def note(self, text: str) -> None:
        self.notes.append(text)


@dataclass
class PassRecord:
    """What one pass did, measured by the pipeline."""

    name: str
    changed: bool
    nodes: tuple[int, int]
    params: tuple[int, int]
    seconds: float
    stats: dict[str, int]
    notes: list[str]
    data: dict[str, Any] = field(default_factory=dict)
    approximate: bool = False  # the pass kept an approximate rewrite: verify against the gate
    flops: tuple[int, int] = (0, 0)  # arithmetic per sample before → after (see flops())


def run_pipeline(
    graph: Graph,
    names: Sequence[str],
    options: Any,
    log: Callable[[str], None] = lambda s: None,
    discrete: DiscreteProblem | None = None,
    specs: Sequence[Any] = (),
    points: np.ndarray | None = None,
    network: Callable[[list[np.ndarray]], np.ndarray] | None = None,
) -> tuple[Graph, list[PassRecord]]:
    """Run the named passes in order; verify the graph after each and record its effect."""
    unknown = [n for n in names if n not in PASSES]
    if unknown:
        raise InputError(f"unknown pass(es) {unknown}", hint=f"known passes: {sorted(PASSES)}")
    records = []
    for name in names:
        registered = PASSES[name]
        ctx = PassContext(
            options,
            discrete,
            lambda line, name=name: log(f"{name}: {line}"),
            specs,
            points,
            network,
        )
        before = graph.fingerprint()
        start = time.perf_counter()
        with error_context(f"pass {name}"):
            result = registered.function(graph, ctx)
            verify_graph(result, after=f"pass {name}")
        record = PassRecord(
            name,
            result.fingerprint() != before,
            (_ops(graph), _ops(result)),
            (graph.parameter_count(), result.parameter_count()),
            time.perf_counter() - start,
            dict(ctx.counts),
            ctx.notes,
            ctx.data,
            ctx.approximated and not registered.exact,
            (flops(graph), flops(result)),
        )
        log(f"{name}: {record.nodes[0]} -> {record.nodes[1]} ops, {record.seconds:.3f} s")
        for note in record.notes:
            log(f"{name}: {note}")
        records.append(record)
        graph = result
    return graph, records


def flops(graph: Graph) -> int:
    """Arithmetic per sample, estimated from shapes: 2·m·k·n per matmul, one per element of an
    elementwise op or reduction input, the operation count of a closed form."""
    total = 0
    for node in graph.nodes():
        category = node.op.value
        if node.op is Op.MATMUL:
            total += 2 * graph[node.inputs[0]].shape[-1] * node.numel
        elif node.op is Op.EXPR:
            rows = node.numel if node.attrs.get("rowwise") else 1
            total += rows * max(1, int(sympy.count_ops(node.attrs["expr"])))
        elif node.op in (Op.SUM, Op.AMAX, Op.AMIN, Op.ARGMAX):
            total += graph[node.inputs[0]].numel
        elif category not in ("input", "const") and OP_TABLE[node.op].category == "elementwise":
            total += node.numel
    return total


def _ops(graph: Graph) -> int:
    """Operations: nodes that compute something (inputs and constants excluded)."""
    return sum(1 for n in graph.nodes() if n.op not in (Op.INPUT, Op.CONST))
