"""Pass registry and driver: run named passes, verify each result's invariants, and record what
each pass did — with the error of every approximate rewrite measured by the pipeline itself."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy

from .errors import InputError, error_context
from .fidelity import Fidelity, Gate
from .graph import Graph
from .ops import OP_TABLE, Op
from .options import Options
from .reference import DiscreteProblem, Reference
from .spec import InputSpec
from .verification import CompileNative, check_against_reference
from .verify import verify_graph

__all__ = [
    "MEASURE_POINTS",
    "PASSES",
    "PassContext",
    "PassRecord",
    "Setting",
    "check_pass_names",
    "flops",
    "register_pass",
    "run_pipeline",
]

PassFunction = Callable[[Graph, "PassContext"], Graph]
MEASURE_POINTS = 4096  # reference points the pipeline checks an approximate pass's result on


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
class Setting:
    """What every pass of one compile shares, built once by the driver."""

    options: Options
    gate: Gate
    specs: Sequence[InputSpec]
    # compiles a graph to native code in this process; picklable, so work can travel
    native: CompileNative
    # the original network on any points of the domain: per-input arrays → outputs (n, ...)
    network: Callable[[list[np.ndarray]], np.ndarray] | None = None
    reference: Reference | None = None  # the domain points checked and the network's outputs
    discrete: DiscreteProblem | None = None  # an enumerated integer domain with a discrete output


@dataclass
class PassContext:
    """Everything a pass may use: the shared setting, a place to count and note what it did and
    keep evidence for the report, and a progress line."""

    setting: Setting
    progress: Callable[[str], None] = lambda line: None
    counts: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # structured evidence for the report

    @property
    def options(self) -> Options:
        return self.setting.options

    @property
    def gate(self) -> Gate:
        return self.setting.gate

    @property
    def specs(self) -> Sequence[InputSpec]:
        return self.setting.specs

    @property
    def native(self) -> CompileNative:
        return self.setting.native

    @property
    def network(self) -> Callable[[list[np.ndarray]], np.ndarray] | None:
        return self.setting.network

    @property
    def discrete(self) -> DiscreteProblem | None:
        return self.setting.discrete

    @property
    def points(self) -> np.ndarray | None:
        """The reference points, flat (n, input size) as the ABI takes them."""
        return self.setting.reference.flat if self.setting.reference is not None else None

    def attach(self, key: str, value: Any) -> None:
        """Keep a measured series (e.g. a spectrum) for the report's plots and JSON."""
        self.data[key] = value

    def count(self, what: str, n: int = 1) -> None:
        """Count what happened (a zero count is not recorded, so reports list no empty rows)."""
        if n:
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
    flops: tuple[int, int] = (0, 0)  # arithmetic per sample before → after (see flops())
    # measured against the network after a pass that may approximate and changed the graph
    fidelity: Fidelity | None = None

    @property
    def approximate(self) -> bool:
        """The pass kept a rewrite that is not exact: verification then holds it to the gate."""
        return self.fidelity is not None and not self.fidelity.passed


def check_pass_names(names: Sequence[str]) -> None:
    """Refuse names no pass is registered under, before any work."""
    unknown = [n for n in names if n not in PASSES]
    if unknown:
        raise InputError(f"unknown pass(es) {unknown}", hint=f"known passes: {sorted(PASSES)}")


def run_pipeline(
    graph: Graph,
    names: Sequence[str],
    setting: Setting,
    log: Callable[[str], None] = lambda s: None,
) -> tuple[Graph, list[PassRecord]]:
    """Run the named passes in order; verify the graph after each, record its effect, and measure
    the result of every pass that may approximate against the network's reference outputs."""
    check_pass_names(names)
    records = []
    for name in names:
        registered = PASSES[name]
        ctx = PassContext(setting, lambda line, name=name: log(f"{name}: {line}"))
        before = graph.fingerprint()
        start = time.perf_counter()
        with error_context(f"pass {name}"):
            result = registered.function(graph, ctx)
            verify_graph(result, after=f"pass {name}")
        seconds = time.perf_counter() - start
        changed = result.fingerprint() != before
        fidelity = None
        if changed and not registered.exact and setting.reference is not None:
            with error_context(f"measuring the result of pass {name}"):
                fidelity = _measure(result, setting)
        record = PassRecord(
            name,
            changed,
            (_ops(graph), _ops(result)),
            (graph.parameter_count(), result.parameter_count()),
            seconds,
            dict(ctx.counts),
            ctx.notes,
            ctx.data,
            (flops(graph), flops(result)),
            fidelity,
        )
        log(f"{name}: {record.nodes[0]} -> {record.nodes[1]} ops, {record.seconds:.3f} s")
        for note in record.notes:
            log(f"{name}: {note}")
        records.append(record)
        graph = result
    return graph, records


def _measure(graph: Graph, setting: Setting) -> Fidelity:
    """The graph against the network on the first MEASURE_POINTS reference points, held to float
    rounding: a result that fails this approximated."""
    assert setting.reference is not None
    compiled = setting.native(graph, setting.specs, setting.options.output.kind)
    return check_against_reference(
        graph,
        compiled,
        setting.native,
        setting.reference,
        setting.specs,
        setting.options,
        setting.gate,
        approximate=False,
        limit=MEASURE_POINTS,
    )


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
