"""Exhaustive checks of domains too large to hold: the enumeration is cut into ranges of point
indices, each range is checked by a worker (it enumerates its own points, compiles the artifact
and the network's faithful graph, and compares them in slices of SLICE_POINTS), and the tallies
are merged into one Fidelity. Memory stays bounded by the slice, whatever the domain's size.

"The network" here is its faithful graph compiled natively (what exact mode compiles, held to
float rounding against torch on the sampled reference points): work units carry Graphs, never
the user's torch module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from .domain import Domain, abi_rows
from .fanout import Fanout, keep_large_arrays_on_the_heap
from .fidelity import Fidelity, Gate
from .graph import Graph
from .options import Options
from .reference import Reference
from .rewrite import remove_dead
from .spec import InputSpec
from .verification import CompileNative, NativeRunner, check_against_reference

__all__ = [
    "RangeCheck",
    "Tally",
    "check_exhaustively",
    "check_range",
    "check_ranges",
    "exhaustive_limit",
    "merge",
    "range_points",
]

SLICE_POINTS = 1 << 16  # points a worker holds at once
MIN_RANGE_SLICES = 1  # a range is at least one slice
MAX_RANGES = 256  # more ranges cost more in moving graphs than they save
GROUPS_PER_WORKER = 4  # tasks per worker: enough to balance the load and retry little
SHOWN_DISAGREEMENTS = 1000  # as fidelity.measure keeps


def exhaustive_limit(options: Options, fanout: Fanout) -> int:
    """The largest domain checked on every point: enumerate_limit per worker available."""
    return options.enumerate_limit * fanout.workers


@dataclass(frozen=True)
class RangeCheck:
    """One work unit: compare the artifact with the network on points start .. stop-1."""

    artifact: Graph
    network: Graph  # the faithful graph with its output head, as traced
    specs: tuple[InputSpec, ...]
    native: CompileNative
    options: Options
    gate: Gate
    approximate: bool
    start: int
    stop: int


@dataclass(frozen=True)
class Tally:
    """A range's Fidelity and the largest magnitude of the network's output there (to merge
    relative errors)."""

    fidelity: Fidelity
    scale: float


def check_exhaustively(
    artifact: Graph,
    network: Graph,
    specs: Sequence[InputSpec],
    native: CompileNative,
    options: Options,
    gate: Gate,
    approximate: bool,
    fanout: Fanout,
) -> Fidelity:
    """The artifact against the network on every point of the (enumerable) domain, in ranges
    run by `fanout`; the same figures whatever runs them."""
    size = Domain(specs).size()
    assert size is not None, "an exhaustive check needs a discrete domain"
    step = range_points(size)
    work = [
        RangeCheck(
            artifact,
            network,
            tuple(specs),
            native,
            options,
            gate,
            approximate,
            a,
            min(a + step, size),
        )
        for a in range(0, size, step)
    ]
    tallies = [
        t for group in fanout.map(check_ranges, _grouped(work, fanout.workers)) for t in group
    ]
    return merge(tallies, size, gate, approximate)


def _grouped(work: list[RangeCheck], workers: int) -> list[tuple[RangeCheck, ...]]:
    """Consecutive ranges in GROUPS_PER_WORKER tasks per worker: a task pickles its graphs once
    for all its ranges (on a cluster, moving a network's weights per range cost more than
    checking it), while the ranges, and so the figures, stay what the domain's size made them."""
    per_task = max(1, math.ceil(len(work) / (GROUPS_PER_WORKER * max(1, workers))))
    return [tuple(work[k : k + per_task]) for k in range(0, len(work), per_task)]


def check_ranges(work: tuple[RangeCheck, ...]) -> list[Tally]:
    """Check consecutive ranges (one task of a worker), keeping the first SHOWN_DISAGREEMENTS
    disagreements of the task: merge shows the first ones of all ranges in order, so the others
    could never be shown, and moving them back cost the driver more than merging (a task of 64
    ranges of a 10^8-point check had returned 1.2 MB of them, 0.27 s to unpickle)."""
    keep_large_arrays_on_the_heap()
    tallies = []
    room = SHOWN_DISAGREEMENTS
    for one in work:
        tally = check_range(one)
        shown = tally.fidelity.disagreements[:room]
        room -= len(shown)
        tallies.append(replace(tally, fidelity=replace(tally.fidelity, disagreements=shown)))
    return tallies


def range_points(size: int) -> int:
    """Points per range: whole slices, from the domain's size alone — never from the workers, so
    sums are added in the same order and the figures are the same bits whatever ran them."""
    slices = max(MIN_RANGE_SLICES, math.ceil(size / SLICE_POINTS / MAX_RANGES))
    return slices * SLICE_POINTS


# per process, the graphs compiled last: a worker compiles each graph once for all its ranges
_compiled: dict[tuple[str, str, str], NativeRunner] = {}
KEPT_COMPILED = 4


def _native(work: RangeCheck, graph: Graph, semantics: str) -> NativeRunner:
    key = (graph.fingerprint(), semantics, repr(work.native))
    if key not in _compiled:
        while len(_compiled) >= KEPT_COMPILED:
            del _compiled[next(iter(_compiled))]
        _compiled[key] = work.native(graph, work.specs, semantics)
    return _compiled[key]


def check_range(work: RangeCheck) -> Tally:
    """Check one range, SLICE_POINTS at a time (runs in a worker)."""
    domain = Domain(work.specs)
    scores = work.network.copy()
    if work.options.output.kind != "raw":  # the network's raw scores under its decision head
        scores.outputs = [scores[scores.outputs[0]].inputs[0]]
        remove_dead(scores)
    network = _native(work, scores, "raw")
    artifact = _native(work, work.artifact, work.options.output.kind)
    shape = scores[scores.outputs[0]].shape[1:]
    tallies = []
    for first in range(work.start, work.stop, SLICE_POINTS):
        points = domain.enumerate_range(first, min(first + SLICE_POINTS, work.stop))
        flat = abi_rows(points)
        outputs = network.run(flat).reshape(len(flat), *shape)
        reference = Reference(points, False, None, outputs)
        fidelity = check_against_reference(
            work.artifact,
            artifact,
            lambda graph, specs, semantics: _native(work, graph, semantics),
            reference,
            work.specs,
            work.options,
            work.gate,
            work.approximate,
        )
        scale = float(np.abs(outputs).max()) if outputs.size else 0.0
        tallies.append(Tally(fidelity, scale))
    return Tally(merge(tallies, None, work.gate, work.approximate), max(t.scale for t in tallies))


def merge(
    tallies: Sequence[Tally], domain_size: int | None, gate: Gate, approximate: bool
) -> Fidelity:
    """One Fidelity from the tallies of disjoint ranges; complete when they cover the domain."""
    parts = [t.fidelity for t in tallies]
    points = sum(f.points for f in parts)
    scale = max(t.scale for t in tallies)
    first = parts[0]
    max_abs = max_rel = rmse = None
    if first.max_abs is not None:
        max_abs = max(f.max_abs for f in parts)
        max_rel = max_abs / scale if scale > 0 else max_abs
        if any(math.isinf(f.max_rel) for f in parts):
            max_rel = max_abs = math.inf
        rmse = math.sqrt(sum(f.rmse**2 * f.points for f in parts) / points)
    agreement = None if first.agreement is None else sum(f.agreement for f in parts)
    disagreements = tuple(d for f in parts for d in f.disagreements)[:SHOWN_DISAGREEMENTS]
    required = gate.required_agreement(points) if approximate and agreement is not None else None
    return replace(
        first,
        points=points,
        domain_size=domain_size,
        complete=domain_size is not None and points == domain_size,
        max_abs=max_abs,
        max_rel=max_rel,
        rmse=rmse,
        agreement=agreement,
        disagreements=disagreements,
        ties=sum(f.ties for f in parts),
        required=required,
    )
