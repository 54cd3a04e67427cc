"""Pass registry and driver: run named passes, verify each result's invariants, and record what
each pass did — with the error of every approximate rewrite measured by the pipeline itself. The
pipeline, never a pass, writes what the log shows (options.DEBUG_LEVELS, print_after)."""

from __future__ import annotations

import dataclasses
import difflib
import math
import reprlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy

from .errors import InputError, error_context
from .fanout import Fanout, Serial
from .fidelity import Fidelity, Gate
from .graph import Graph
from .ops import OP_TABLE, Op
from .options import Options
from .progress import Progress
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
    "dump_graph",
    "flops",
    "operation_count",
    "register_pass",
    "run_pipeline",
    "shows_graph",
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
    # its gradient there: per-input arrays → (n, output elements, input elements), or None when
    # the model is not differentiable (integer inputs)
    gradient: Callable[[list[np.ndarray]], np.ndarray] | None = None
    reference: Reference | None = None  # the domain points checked and the network's outputs
    discrete: DiscreteProblem | None = None  # an enumerated integer domain with a discrete output
    # runs independent work units (searches, chunks of checks) in order, here or on workers
    fanout: Fanout = field(default_factory=Serial)


@dataclass
class PassContext:
    """Everything a pass may use: the shared setting, a place to count and note what it did and
    keep evidence for the report, and the live progress display (never print)."""

    setting: Setting
    progress: Progress = field(default_factory=Progress)
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
    def gradient(self) -> Callable[[list[np.ndarray]], np.ndarray] | None:
        return self.setting.gradient

    @property
    def discrete(self) -> DiscreteProblem | None:
        return self.setting.discrete

    @property
    def fanout(self) -> Fanout:
        return self.setting.fanout

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

    def summary(self) -> str:
        """The record on one line, as debug level 1 logs it while the pipeline runs."""
        parts = [
            "changed" if self.changed else "unchanged",
            f"ops {self.nodes[0]} -> {self.nodes[1]}",
            f"parameters {self.params[0]:,} -> {self.params[1]:,}",
            f"flops {self.flops[0]:,} -> {self.flops[1]:,}",
            f"{self.seconds:.3f} s",
        ]
        parts += [f"{what} {n}" for what, n in self.stats.items()]
        if self.fidelity is not None:
            f = self.fidelity
            error = (
                f"max rel error {f.max_rel:.3g}"
                if f.max_rel is not None
                else f"decisions agree on {f.agreement}/{f.points}"
            )
            kind = "approximate" if self.approximate else "exact to float rounding"
            parts.append(f"measured {error} ({kind})")
        return ", ".join(parts)


def check_pass_names(names: Sequence[str]) -> None:
    """Refuse names no pass is registered under, before any work."""
    unknown = [n for n in names if n not in PASSES]
    if unknown:
        raise InputError(f"unknown pass(es) {unknown}", hint=_known_passes(unknown[0]))


def run_pipeline(
    graph: Graph,
    names: Sequence[str],
    setting: Setting,
    log: Callable[[str], None] = lambda s: None,
    progress: Progress | None = None,
) -> tuple[Graph, list[PassRecord]]:
    """Run the named passes in order; verify the graph after each, record its effect, and measure
    the result of every pass that may approximate against the network's reference outputs.
    `log` receives what the debug level asks for; `progress` shows the running pass."""
    progress = progress or Progress()
    check_pass_names(names)
    _check_print_after(setting.options.print_after, names)
    records = []
    for name in names:
        registered = PASSES[name]
        ctx = PassContext(setting, progress)
        before = graph.fingerprint()
        start = time.perf_counter()
        with progress.task(f"pass {name}"), error_context(f"pass {name}"):
            result = registered.function(graph, ctx)
            verify_graph(result, after=f"pass {name}")
        seconds = time.perf_counter() - start
        changed = result.fingerprint() != before
        fidelity = None
        if changed:
            result = _stamp_provenance(graph, result, name)
        if changed and not registered.exact and setting.reference is not None:
            with (
                progress.task(f"measuring pass {name} against the network"),
                error_context(f"measuring the result of pass {name}"),
            ):
                fidelity = _measure(result, setting)
        record = PassRecord(
            name,
            changed,
            (operation_count(graph), operation_count(result)),
            (graph.parameter_count(), result.parameter_count()),
            seconds,
            dict(ctx.counts),
            ctx.notes,
            ctx.data,
            (flops(graph), flops(result)),
            fidelity,
        )
        _log_pass(record, result, setting.options, log)
        records.append(record)
        graph = result
    return graph, records


def _stamp_provenance(before: Graph, after: Graph, name: str) -> Graph:
    """Mark each node a pass created with the pass's name (meta["pass"]), for the report."""
    created = [n for n in after.nodes() if n.name not in before and "pass" not in n.meta]
    if not created:
        return after
    stamped = after.copy()
    for node in created:
        stamped.replace(node.name, dataclasses.replace(node, meta={**node.meta, "pass": name}))
    return stamped


def shows_graph(options: Options, stage: str, changed: bool = True) -> bool:
    """Whether the log shows the Graph after `stage` (a pass name or "front end")."""
    asked = stage in options.print_after or "all" in options.print_after
    return asked or (options.debug >= 2 and changed)


def dump_graph(graph: Graph, after: str) -> str:
    """The Graph as the log shows it: a header naming the stage, then `Graph.format()`."""
    return f"--- graph after {after}: {len(graph)} nodes ---\n{graph.format()}"


def _log_pass(
    record: PassRecord, graph: Graph, options: Options, log: Callable[[str], None]
) -> None:
    """What the log shows after one pass at the options' debug level (DEBUG_LEVELS)."""
    name = record.name
    if options.debug >= 1:  # NOTE: at level 0 the summary states the record and notes, once
        log(f"{name}: {record.summary()}")
        for note in record.notes:
            log(f"{name}: {note}")
    if shows_graph(options, name, record.changed):
        log(dump_graph(graph, f"pass {name}"))
    if options.debug >= 3:
        forms = [n.format() for n in graph.nodes() if n.op in (Op.EXPR, Op.TABLE)]
        log(f"{name}: closed forms: " + ("; ".join(forms) if forms else "none"))
        for key, value in record.data.items():
            log(f"{name}: evidence {key}: {reprlib.repr(value)}")


def _check_print_after(print_after: Sequence[str], names: Sequence[str]) -> None:
    """Every pass print_after names runs in this pipeline: a dump that never comes is a mistake."""
    for name in print_after:
        if name == "all" or name in names:
            continue
        if name in PASSES:
            raise InputError(
                f"print_after names pass {name!r}, which does not run in this pipeline "
                f"({', '.join(names)})",
                hint="add it to the pipeline (--passes), or name a pass that runs",
            )
        raise InputError(
            f"print_after names {name!r}, which is not a pass", hint=_known_passes(name, "all")
        )


def _known_passes(name: str, *extra: str) -> str:
    """A did-you-mean for a misspelt pass name, or the list of passes."""
    known = sorted(PASSES) + list(extra)
    close = difflib.get_close_matches(name, known, n=1)
    return f"did you mean {close[0]!r}?" if close else f"known passes: {', '.join(known)}"


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
    """Arithmetic per sample, estimated from shapes: 2·m·k·n per matmul, 2·(filter size) per
    convolution output, one per window element of a pooled output, one per element of an
    elementwise op or reduction input, the operation count of a closed form, a scan's cell once
    per position."""
    total = 0
    for node in graph.nodes():
        if node.op is Op.MATMUL:
            total += 2 * graph[node.inputs[0]].shape[-1] * node.numel
        elif node.op is Op.CONV:  # each input (transposed) or output element meets a filter
            per_element = math.prod(graph[node.inputs[1]].shape[1:])
            side = graph[node.inputs[0]] if node.attrs["transposed"] else node
            total += 2 * per_element * side.numel
        elif node.op is Op.POOL:
            total += math.prod(node.attrs["kernel"]) * node.numel
        elif node.op is Op.EXPR:
            rows = node.numel if node.attrs.get("rowwise") else 1
            total += rows * max(1, int(sympy.count_ops(node.attrs["expr"])))
        elif node.op is Op.SCAN:
            total += graph[node.inputs[0]].shape[1] * flops(node.attrs["cell"].graph)
        elif node.op in (Op.SUM, Op.AMAX, Op.AMIN, Op.ARGMAX):
            total += graph[node.inputs[0]].numel
        elif OP_TABLE[node.op].category == "elementwise":
            total += node.numel
    return total


def operation_count(graph: Graph) -> int:
    """Operations: nodes that compute something (inputs and constants excluded)."""
    return sum(1 for n in graph.nodes() if n.op not in (Op.INPUT, Op.CONST))
