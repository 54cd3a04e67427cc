"""Budgeted pruning (modes auto and symbolic): replace the units and input elements that matter
least by their mean while the output stays within the gate's pruning budget.

Units and input elements, least important first (largest deviation from their mean on domain
samples and box corners × norm of their outgoing weights), are replaced by their mean and folded
into the next bias, in growing blocks, each block kept only if the output stays within the gate's
`pruning` budget (`prune_budget`, capped by the compile's tolerance, half kept as margin) of the
pass's input graph on fresh samples, the box corners and the compile's reference points.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence

import numpy as np
import torch
from nnc.domain import Domain
from nnc.fidelity import Gate
from nnc.graph import Graph
from nnc.interpret import interpret
from nnc.ops import DTYPES, OP_TABLE, Op
from nnc.pipeline import PassContext
from nnc.rewrite import remove_dead

from .affine import Net, emit_net, fix_inputs, parse_net, readers_of, substitute

__all__ = ["approximate"]

GATE_POINTS = 2048  # validation samples (a discrete domain this small is enumerated)
FIT_POINTS = 2048  # samples for unit statistics when the compile passes no reference points
MAX_CHECK_POINTS = 8192  # reference points the gate checks besides its own samples
MAX_CORNER_BITS = 10  # all corners of the domain's box up to 2**10, else that many random ones
MAX_TRIALS = 48  # gate evaluations of the approximate part
MAX_MISSES = 8  # consecutive rejected single candidates that end it: the budget is spent
CHUNK = 4096  # points per vectorised interpreter call


def approximate(graph: Graph, original: Graph, ctx: PassContext) -> Graph:
    """Replace the least important units and input elements by their mean while the output stays
    within the budget of `original` on validation samples."""
    if any(OP_TABLE[n.op].category == "closed_form" for n in graph.nodes()):
        ctx.note("approximate part skipped: the graph holds closed forms (run prune before them)")
        return graph
    net = parse_net(graph)
    if not net.layers and not net.inputs:
        return graph
    seed = ctx.options.seed
    stats = _statistics(graph, net, _fit_points(graph, ctx, seed))
    check = _gate_points(graph, ctx, seed + 1)
    within = _gate(original, graph, net, check, ctx.gate)
    kept: list[tuple[Graph, float]] = []

    def attempt(chosen: list[Candidate]) -> bool:
        trial = emit_net(graph, net, _without(net, chosen, stats))
        error = within(trial)
        if error is not None:
            kept.append((trial, error))
        return error is not None

    accepted, rejected = _greedy(_candidates(net, stats), attempt)
    ctx.count("rejected", rejected)
    if not accepted:
        return graph
    units = sum(1 for _, source, _ in accepted if source in net.layers)
    ctx.count("units removed (within budget)", units)
    ctx.count("input elements fixed (within budget)", len(accepted) - units)
    ctx.note(
        f"approximate: {units} units and {len(accepted) - units} input elements replaced by "
        f"their mean; error {kept[-1][1]:.2g} of the output scale on {len(check[0])} "
        f"validation points (budget {ctx.gate.pruning:g})"
    )
    return kept[-1][0]


Candidate = tuple[float, str, int]  # (importance, layer output or input name, unit)


Stats = tuple[torch.Tensor, torch.Tensor]  # per unit: mean, largest deviation from it


def _statistics(graph: Graph, net: Net, points: list[torch.Tensor]) -> dict[str, Stats]:
    """Mean of every unit and input element over the points (and positions), and its largest
    distance from the mean: what replacing it by the mean can cost at worst, on these points."""
    names = [*net.layers, *net.inputs]
    values = [v.reshape(-1, v.shape[-1]) for v in _evaluate(graph, names, points)]
    means = [v.mean(0) for v in values]
    return {name: (m, (v - m).abs().amax(0)) for name, v, m in zip(names, values, means)}


def _candidates(net: Net, stats: dict[str, Stats]) -> list[Candidate]:
    """Every unit and input element, least important first: largest deviation from its mean ×
    norm of its outgoing weights."""
    found = []
    for source in [*net.layers, *net.inputs]:
        norms = sum(form.terms[source].norm(dim=1) for form in readers_of(net, source))
        importance = stats[source][1] * norms
        found += [(float(v), source, unit) for unit, v in enumerate(importance)]
    return sorted(found)


def _without(net: Net, chosen: list[Candidate], stats: dict[str, Stats]) -> Net:
    """The net with the chosen units and input elements replaced by their means."""
    for source in sorted({source for _, source, _ in chosen}):
        mean = stats[source][0]
        mask = torch.zeros(len(mean), dtype=torch.bool)
        mask[[unit for _, s, unit in chosen if s == source]] = True
        if source in net.layers:
            net = substitute(net, source, mask, torch.zeros(int(mask.sum())), mean[mask])
        else:
            net = fix_inputs(net, source, mask, mean)
    return net


def _greedy(
    order: list[Candidate], attempt: Callable[[list[Candidate]], bool]
) -> tuple[list[Candidate], int]:
    """Accept candidates in order, in blocks that double after a success and halve after a
    failure; a single failing candidate is skipped. Returns the accepted and the rejected count."""
    accepted: list[Candidate] = []
    rejected = misses = start = trials = 0
    size = 1
    while start < len(order) and trials < MAX_TRIALS and misses < MAX_MISSES:
        block = order[start : start + size]
        trials += 1
        if attempt(accepted + block):
            accepted += block
            start += len(block)
            size, misses = size * 2, 0
        elif size > 1:
            size //= 2
        else:
            rejected, misses, start = rejected + 1, misses + 1, start + 1
    return accepted, rejected


def _gate(
    original: Graph, graph: Graph, net: Net, points: list[torch.Tensor], gate: Gate
) -> Callable[[Graph], float | None]:
    """A test of a candidate built from `graph`: its error against `original` on the points,
    relative to the largest output magnitude (decisions must all agree), or None when the gate
    refuses it. Candidates share everything before the forms, which is evaluated once."""
    reference = _outputs(original, points)
    exact = not all(original[o].dtype.startswith("float") for o in original.outputs)
    scale = float(reference.abs().max()) or 1.0
    frontier = _frontier(graph, net)
    shared = _evaluate(graph, frontier, points)

    def within(candidate: Graph) -> float | None:
        got = _outputs(_cut(candidate, frontier), shared)
        if torch.equal(got, reference):
            return 0.0
        error = float("inf") if exact else float((got - reference).abs().max()) / scale
        return error if gate.accepts_pruning(error) else None

    return within


def _frontier(graph: Graph, net: Net) -> list[str]:
    """The values the forms and all after them read from before them (constants aside)."""
    region = {part for form in net.forms.values() for part in form.parts}
    stack = list(region)
    while stack:
        for user in graph.users(stack.pop()):
            if user not in region:
                region.add(user)
                stack.append(user)
    read = {i for name in region for i in graph[name].inputs} | set(graph.outputs)
    return [
        n.name
        for n in graph.nodes()
        if n.name in read and n.name not in region and n.op is not Op.CONST
    ]


def _cut(graph: Graph, frontier: list[str]) -> Graph:
    """The graph from the frontier on: frontier nodes become its inputs, what precedes them goes."""
    cut = graph.copy()
    for name in frontier:
        cut.replace(name, dataclasses.replace(cut[name], op=Op.INPUT, inputs=(), attrs={}))
    cut.inputs = list(frontier)
    remove_dead(cut)
    return cut


def _outputs(graph: Graph, points: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([v.reshape(len(v), -1) for v in _evaluate(graph, graph.outputs, points)], 1)


def _evaluate(
    graph: Graph, outputs: Sequence[str], points: list[torch.Tensor]
) -> list[torch.Tensor]:
    """The named nodes at every point, float64: the batch-1 interpreter vectorised with vmap."""
    sub = graph.copy()
    sub.outputs = list(outputs)
    remove_dead(sub)
    run = torch.func.vmap(lambda *xs: tuple(interpret(sub, list(xs))))
    with torch.no_grad():
        chunks = [run(*(p[k : k + CHUNK] for p in points)) for k in range(0, len(points[0]), CHUNK)]
    return [torch.cat([c[i] for c in chunks]).double() for i in range(len(outputs))]


# --- points of the domain ---------------------------------------------------------------------


def _fit_points(graph: Graph, ctx: PassContext, seed: int) -> list[torch.Tensor]:
    """The compile's reference points when it has them, else samples of the domain; and corners."""
    if ctx.points is not None:
        points = _split(graph, ctx, ctx.points[:MAX_CHECK_POINTS])
    else:
        points = _tensors(graph, Domain(ctx.specs).points(FIT_POINTS, FIT_POINTS, seed)[0])
    return _joined_points(points, _corners(graph, ctx, seed))


def _gate_points(graph: Graph, ctx: PassContext, seed: int) -> list[torch.Tensor]:
    """Fresh samples (all points of a small discrete domain), corners, and the compile's
    reference points, which verification will check."""
    points = _tensors(graph, Domain(ctx.specs).points(GATE_POINTS, GATE_POINTS, seed)[0])
    points = _joined_points(points, _corners(graph, ctx, seed))
    if ctx.points is None:
        return points
    return _joined_points(points, _split(graph, ctx, ctx.points[:MAX_CHECK_POINTS]))


def _corners(graph: Graph, ctx: PassContext, seed: int) -> list[torch.Tensor] | None:
    """Corners of the domain's box, all of them when few, else a random choice: ReLU units
    peak there, where samples rarely go. None for calibration data (its points are the domain)."""
    if any(spec.calibration is not None for spec in ctx.specs):
        return None
    lo, hi = (np.concatenate(ends) for ends in zip(*(spec.bounds() for spec in ctx.specs)))
    if len(lo) <= MAX_CORNER_BITS:
        upper = np.array(list(itertools.product([False, True], repeat=len(lo))))
    else:
        upper = np.random.default_rng(seed).integers(0, 2, (1 << MAX_CORNER_BITS, len(lo))) > 0
    return _split(graph, ctx, np.where(upper, hi, lo))


def _joined_points(
    points: list[torch.Tensor], more: list[torch.Tensor] | None
) -> list[torch.Tensor]:
    return points if more is None else [torch.cat(pair) for pair in zip(points, more)]


def _split(graph: Graph, ctx: PassContext, flat: np.ndarray) -> list[torch.Tensor]:
    """Flat (n, total input size) points, as the ABI takes them, cut into one array per input."""
    ends = np.cumsum([spec.numel for spec in ctx.specs])[:-1]
    return _tensors(graph, np.split(flat, ends, axis=1))


def _tensors(graph: Graph, arrays: Sequence[np.ndarray]) -> list[torch.Tensor]:
    """Per-input arrays (n, *shape) as tensors (n, *input node shape) of the input's dtype."""
    out = []
    for name, array in zip(graph.inputs, arrays):
        node = graph[name]
        tensor = torch.as_tensor(np.ascontiguousarray(array))
        shape = [int(size) for size in node.shape]  # NOTE: traced TorchScript may give SymInts
        out.append(tensor.reshape(len(array), *shape).to(DTYPES[node.dtype]))
    return out
