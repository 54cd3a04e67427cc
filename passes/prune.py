"""prune: remove the units a network does not use on its domain, and report unused inputs.

    %h : f32[1, 64] = add(%xw, %b)              %h : f32[1, 41] = add(%xw', %b')
    %r : f32[1, 64] = relu(%h)          →       %r : f32[1, 41] = relu(%h)
    %y : f32[1, 1] = matmul(%r, %w2)            %y : f32[1, 1] = matmul(%r, %w2')

Linear layers are read as affine forms, sum of matmul(source, constant W) plus a constant bias; a
hidden layer is an activation applied unit by unit between the form that feeds it and the forms
that read it (matmul terms are its only uses).

Sound part, every mode. Interval bounds of the pre-activations (bounds.py) prove that
- a ReLU unit is never positive on the domain: it is removed (its column of the weights and bias
  before, its row of the weights after);
- a unit's activation is linear on the whole domain (ReLU always active, leaky ReLU always on one
  side, no activation at all): it is folded into the forms that read it, when that saves
  parameters. When a whole layer goes, its linear maps are fused: W1·W2, b1·W2 + b2.
Rounds repeat on the rebuilt graph, whose fused layers bound tighter.

Approximate part, modes auto and symbolic. Units and input elements, least important first
(largest deviation from their mean on domain samples and box corners × norm of their outgoing
weights), are replaced by their mean and folded into the next bias, in growing blocks, each block
kept only if the output stays within half of `prune_budget` (max error relative to the largest
output magnitude; default PRUNE_BUDGET, never more than the compile's tolerance) of the pass's
input graph on fresh samples, the box corners and the compile's reference points (the gate's
`pruning` budget, `prune_budget` capped by the compile's tolerance, with half kept as margin).

Input elements the pruned graph no longer reads are reported.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from nnc.bounds import Interval, node_bounds
from nnc.domain import Domain
from nnc.fidelity import Gate
from nnc.graph import Graph
from nnc.interpret import interpret
from nnc.ops import DTYPES, OP_TABLE, Op
from nnc.pipeline import PassContext, register_pass
from nnc.rewrite import remove_dead

__all__ = ["prune"]

GATE_POINTS = 2048  # validation samples (a discrete domain this small is enumerated)
FIT_POINTS = 2048  # samples for unit statistics when the compile passes no reference points
MAX_CHECK_POINTS = 8192  # reference points the gate checks besides its own samples
MAX_CORNER_BITS = 10  # all corners of the domain's box up to 2**10, else that many random ones
MAX_TRIALS = 48  # gate evaluations of the approximate part
MAX_MISSES = 8  # consecutive rejected single candidates that end it: the budget is spent
MAX_ROUNDS = 4  # sound rounds
CHUNK = 4096  # points per vectorised interpreter call
APPROXIMATE_MODES = ("auto", "symbolic")


@dataclass(frozen=True)
class Form:
    """sum of matmul(source, W) over the terms, plus a bias: the affine map computed at `root`."""

    root: str
    terms: dict[str, torch.Tensor]  # source node → W (in, out), float64
    bias: torch.Tensor  # (out,), float64
    shape: tuple[int, ...]
    dtype: str
    parts: tuple[str, ...]  # the matmul and add nodes that compute it in the graph it was read from


@dataclass(frozen=True)
class Layer:
    """An activation applied unit by unit from form root `pre` to `out`; forms alone read `out`."""

    pre: str
    out: str
    cone: tuple[str, ...]  # the activation's nodes after `pre`, in order; () for none
    slopes: tuple[float, float] | None  # ReLU family: slope below and above 0; None: other


@dataclass(frozen=True)
class Net:
    """What prune can rewrite: forms by root, hidden layers by output, inputs only forms read."""

    forms: dict[str, Form]
    layers: dict[str, Layer]
    inputs: tuple[str, ...]


@register_pass("prune", exact=False)
def prune(graph: Graph, ctx: PassContext) -> Graph:
    """Remove dead and always-linear units (sound), then units within the error budget (auto)."""
    if not ctx.specs:
        ctx.note("skipped: needs the input specs (bounds start from the domain)")
        return graph
    pruned = _sound(graph, ctx)
    if ctx.options.mode in APPROXIMATE_MODES:
        pruned = _approximate(pruned, graph, ctx)
    _report_inputs(pruned, ctx)
    return pruned


# --- reading the graph --------------------------------------------------------------------------


def _parse(graph: Graph) -> Net:
    """Every hidden layer with the forms around it, and the inputs only forms read."""
    position = {node.name: k for k, node in enumerate(graph.nodes())}
    forms: dict[str, Form] = {}
    layers: dict[str, Layer] = {}
    inputs = []
    for name in graph.inputs:
        readers = _readers(graph, name) if graph[name].dtype.startswith("float") else None
        if readers:
            inputs.append(name)
            forms.update(readers)
    for name in position:
        if graph[name].op not in (Op.MATMUL, Op.ADD) or _absorbed(graph, name):
            continue
        form = _form(graph, name)
        layer = _layer(graph, name, position) if form is not None else None
        readers = _readers(graph, layer.out) if layer is not None else None
        if readers:
            forms[name] = form
            forms.update(readers)
            layers[layer.out] = layer
    return Net(forms, layers, tuple(inputs))


def _form(graph: Graph, root: str) -> Form | None:
    """The affine form computed at `root`, if its parts are matmuls by constant matrices, constant
    biases broadcast along the last axis, and additions used only inside the form."""
    node = graph[root]
    if node.op not in (Op.MATMUL, Op.ADD) or not node.dtype.startswith("float") or not node.shape:
        return None
    terms: dict[str, torch.Tensor] = {}
    biases: list[torch.Tensor] = []
    parts: list[str] = []
    if not _collect(graph, root, node.shape, terms, biases, parts) or not terms:
        return None
    bias = functools.reduce(torch.add, biases, torch.zeros(node.shape[-1], dtype=torch.float64))
    return Form(root, terms, bias, node.shape, node.dtype, tuple(parts))


def _collect(
    graph: Graph,
    name: str,
    shape: tuple[int, ...],
    terms: dict[str, torch.Tensor],
    biases: list[torch.Tensor],
    parts: list[str],
) -> bool:
    node = graph[name]
    if node.shape != shape:
        return False
    parts.append(name)
    if node.op is Op.MATMUL:
        weight = graph[node.inputs[1]]
        if weight.op is not Op.CONST or weight.value.dim() != 2:
            return False
        sources = [node.inputs[0]]
        if _joined(graph, node.inputs[0]):
            parts.append(node.inputs[0])
            sources = list(graph[node.inputs[0]].inputs)
        rows = weight.value.double().split([int(graph[s].shape[-1]) for s in sources])
        for source, block in zip(sources, rows):
            terms[source] = terms.get(source, 0) + block
        return True
    if node.op is not Op.ADD:
        return False
    for operand in node.inputs:
        if _is_bias(graph, operand, shape):
            biases.append(graph[operand].value.double().reshape(-1).expand(shape[-1]))
        elif not (
            _private(graph, operand, name) and _collect(graph, operand, shape, terms, biases, parts)
        ):
            return False
    return True


def _is_bias(graph: Graph, name: str, shape: tuple[int, ...]) -> bool:
    """A floating constant that broadcasts along the last axis only: one value per unit, or one."""
    node = graph[name]
    value = node.value
    return (
        node.op is Op.CONST
        and value.is_floating_point()
        and value.dim() <= len(shape)
        and value.numel() in (1, shape[-1])
        and all(s == 1 for s in value.shape[:-1])
    )


def _private(graph: Graph, name: str, user: str) -> bool:
    return graph.users(name) == [user] and name not in graph.outputs


def _absorbed(graph: Graph, name: str) -> bool:
    """Whether `name` is an inner part of a larger form (so not a form root itself)."""
    users = graph.users(name)
    return (
        len(users) == 1
        and _private(graph, name, users[0])
        and graph[users[0]].op is Op.ADD
        and _form(graph, users[0]) is not None
    )


def _readers(graph: Graph, source: str) -> dict[str, Form] | None:
    """The forms reading `source`, by root, when being a matmul term of a form is its only use."""
    if source in graph.outputs or not graph.users(source):
        return None
    found = {}
    for user in graph.users(source):
        root = graph.users(user)[0] if _joined(graph, user) else user
        if graph[root].op is not Op.MATMUL:
            return None
        while _absorbed(graph, root):
            root = graph.users(root)[0]
        form = _form(graph, root)
        if form is None or source not in form.terms:
            return None
        found[root] = form
    return found


def _joined(graph: Graph, name: str) -> bool:
    """Whether `name` joins several sources along the last axis for one matmul (as _emit_form
    writes a form with several terms): cat(a, b) @ W = a @ W[:len(a)] + b @ W[len(a):]."""
    node = graph[name]
    users = graph.users(name)
    return (
        node.op is Op.CAT
        and node.attrs["dim"] == len(node.shape) - 1
        and len(users) == 1
        and _private(graph, name, users[0])
        and graph[users[0]].op is Op.MATMUL
        and graph[users[0]].inputs[0] == name
    )


def _layer(graph: Graph, pre: str, position: dict[str, int]) -> Layer | None:
    """The activation after form root `pre`, if it has a single output of pre's dtype."""
    cone = _cone(graph, pre, position)
    members = {pre, *cone}
    sinks = [
        n
        for n in (pre, *cone)
        if n in graph.outputs or any(u not in members for u in graph.users(n))
    ]
    if len(sinks) != 1 or graph[sinks[0]].dtype != graph[pre].dtype:
        return None
    out = sinks[0]
    if out == pre:
        return Layer(pre, pre, (), (1.0, 1.0))
    return Layer(pre, out, cone, _slopes(graph, pre, cone))


def _slopes(graph: Graph, pre: str, cone: tuple[str, ...]) -> tuple[float, float] | None:
    """The slopes of a ReLU-family activation, looking through reshapes before and after it."""
    shaped = {pre, *(n for n in cone if graph[n].op is Op.RESHAPE)}
    core = tuple(n for n in cone if n not in shaped)
    if not core:
        return (1.0, 1.0)
    reads = [i for i in graph[core[0]].inputs if i in shaped]
    matcher = SLOPES.get(graph[core[-1]].op)
    return matcher(graph, reads[0], core) if matcher and len(reads) == 1 else None


def _cone(graph: Graph, pre: str, position: dict[str, int]) -> tuple[str, ...]:
    """Nodes computed unit by unit from `pre` alone: elementwise ops whose other inputs are
    scalars, and reshapes of the leading axes; the last axis, the units, stays."""
    width, reachable, stack = graph[pre].shape[-1], set(), [pre]
    while stack:
        for user in graph.users(stack.pop()):
            node = graph[user]
            per_unit = OP_TABLE[node.op].category == "elementwise" or node.op is Op.RESHAPE
            if user not in reachable and per_unit and node.shape and node.shape[-1] == width:
                reachable.add(user)
                stack.append(user)
    members = {pre}
    for name in sorted(reachable, key=position.__getitem__):
        if all(i in members or _scalar(graph, i) is not None for i in graph[name].inputs):
            members.add(name)
    return tuple(sorted(members - {pre}, key=position.__getitem__))


def _scalar(graph: Graph, name: str) -> float | None:
    node = graph[name]
    return float(node.value.reshape(-1)[0]) if node.op is Op.CONST and node.numel == 1 else None


# --- ReLU-family activations of z: (slope below 0, slope above 0), by the activation's last op ----


def relu_slopes(graph: Graph, z: str, core: tuple[str, ...]) -> tuple[float, float] | None:
    """relu(z)"""
    return (0.0, 1.0) if len(core) == 1 else None


def clamp_slopes(graph: Graph, z: str, core: tuple[str, ...]) -> tuple[float, float] | None:
    """maximum(z, 0), as clamp(min=0) lowers"""
    others = [i for i in graph[core[-1]].inputs if i != z]
    zero = len(core) == 1 and len(others) == 1 and _scalar(graph, others[0]) == 0
    return (0.0, 1.0) if zero else None


def leaky_slopes(graph: Graph, z: str, core: tuple[str, ...]) -> tuple[float, float] | None:
    """where(z > 0, z, z * s), as leaky_relu lowers"""
    if len(core) != 3:
        return None
    test, kept, scaled = (graph[i] for i in graph[core[-1]].inputs)
    if (
        test.op is not Op.GT
        or test.inputs[0] != z
        or _scalar(graph, test.inputs[1]) != 0
        or kept.name != z
        or scaled.op is not Op.MUL
    ):
        return None
    factors = [i for i in scaled.inputs if i != z]
    slope = _scalar(graph, factors[0]) if len(factors) == 1 else None
    return None if slope is None else (slope, 1.0)


SLOPES: dict[Op, Callable[[Graph, str, tuple[str, ...]], tuple[float, float] | None]] = {
    Op.RELU: relu_slopes,
    Op.MAXIMUM: clamp_slopes,
    Op.WHERE: leaky_slopes,
}


# --- rewriting the net ------------------------------------------------------------------------


def _substitute(
    net: Net, out: str, units: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor
) -> Net:
    """Replace the masked units of layer `out` by scale · pre-activation + shift in every form
    that reads them, and remove them from the layer (the layer goes when no unit is left)."""
    pre = net.forms[net.layers[out].pre]
    forms = dict(net.forms)
    for root, form in net.forms.items():
        if out not in form.terms:
            continue
        rows = form.terms[out][units]
        terms = dict(form.terms)
        if scale.any():
            for source, weight in pre.terms.items():
                terms[source] = terms.get(source, 0) + weight[:, units] @ (scale[:, None] * rows)
        terms[out] = form.terms[out][~units]
        if not len(terms[out]):
            del terms[out]
        bias = form.bias + (pre.bias[units] * scale + shift) @ rows
        forms[root] = dataclasses.replace(form, terms=terms, bias=bias)
    layers = dict(net.layers)
    keep = ~units
    if keep.any():
        forms[pre.root] = dataclasses.replace(
            pre,
            terms={s: w[:, keep] for s, w in pre.terms.items()},
            bias=pre.bias[keep],
            shape=(*pre.shape[:-1], int(keep.sum())),
        )
    else:
        del forms[pre.root], layers[out]
    return Net(forms, layers, net.inputs)


def _fix_inputs(net: Net, source: str, elements: torch.Tensor, values: torch.Tensor) -> Net:
    """Replace the masked elements of input `source` by constants, folded into the biases."""
    forms = dict(net.forms)
    for root, form in net.forms.items():
        if source in form.terms:
            weight = form.terms[source]
            kept = torch.where(elements[:, None], 0.0, weight)
            bias = form.bias + values[elements] @ weight[elements]
            forms[root] = dataclasses.replace(form, terms={**form.terms, source: kept}, bias=bias)
    return Net(forms, net.layers, net.inputs)


def _readers_of(net: Net, source: str) -> list[Form]:
    return [form for form in net.forms.values() if source in form.terms]


def _emit(graph: Graph, base: Net, net: Net) -> Graph:
    """A copy of `graph` with the forms of `net` that differ from `base` rebuilt and the
    activations after them replayed; what no output reads any more is removed."""
    out = graph.copy()
    renamed: dict[str, str] = {}
    layer_of = {layer.pre: layer for layer in net.layers.values()}
    for node in graph.nodes():
        form = net.forms.get(node.name)
        if form is None or form is base.forms.get(node.name):
            continue
        renamed[node.name] = _emit_form(out, form, renamed)
        layer = layer_of.get(node.name)
        for name in layer.cone if layer is not None else ():
            source = graph[name]
            attrs = source.attrs
            if source.op is Op.RESHAPE:
                attrs = {**attrs, "shape": (*attrs["shape"][:-1], form.shape[-1])}
            renamed[name] = out.add(
                source.op,
                [renamed.get(i, i) for i in source.inputs],
                attrs,
                name=_base(name),
                meta=source.meta,
            )
    for old, new in renamed.items():
        if out[old].shape == out[new].shape:
            out.replace_uses(old, new)
    remove_dead(out)
    return out


def _emit_form(graph: Graph, form: Form, renamed: dict[str, str]) -> str:
    """One matmul (of the sources joined along the last axis, when there are several) + bias."""
    dtype = DTYPES[form.dtype]
    name = _base(form.root)
    if not form.terms:
        return graph.add(
            Op.CONST, value=form.bias.to(dtype).expand(form.shape).contiguous(), name=name
        )
    sources = [renamed.get(source, source) for source in form.terms]
    if len(sources) > 1:
        sources = [graph.add(Op.CAT, sources, {"dim": len(form.shape) - 1}, name="joined")]
    weight = graph.add(Op.CONST, value=torch.cat(list(form.terms.values())).to(dtype), name="w")
    total = graph.add(Op.MATMUL, [sources[0], weight], name=name)
    if form.bias.any():
        bias = graph.add(Op.CONST, value=form.bias.to(dtype), name="b")
        total = graph.add(Op.ADD, [total, bias], name=name)
    return total


def _base(name: str) -> str:
    """A node's name without the suffixes that made it unique, for the node rebuilt from it."""
    return re.sub(r"(_\d+)+$", "", name) or name


# --- sound part --------------------------------------------------------------------------------


def _sound(graph: Graph, ctx: PassContext) -> Graph:
    """Rounds of bound-proved removals and folds; each round bounds the rebuilt graph afresh."""
    start = graph
    for _ in range(MAX_ROUNDS):
        net = _parse(graph)
        if all(layer.slopes is None for layer in net.layers.values()):
            break
        proved = _proved(net, node_bounds(graph, ctx.specs), ctx)
        if proved is net:
            break
        graph = _emit(graph, net, proved)
    if graph is not start:
        counts = ctx.counts
        ctx.note(
            f"proved on the domain: {counts['units removed (dead on the domain)']} units "
            f"dead, {counts['units folded (linear on the domain)']} linear units folded, "
            f"{counts['layers fused']} layers fused; parameters {start.parameter_count()} → "
            f"{graph.parameter_count()}"
        )
    return graph


def _proved(net: Net, bounds: dict[str, Interval], ctx: PassContext) -> Net:
    """Remove the units the bounds prove dead; fold those they prove linear if that saves params."""
    for layer in list(net.layers.values()):
        if layer.slopes is None:
            continue
        width = net.forms[layer.pre].bias.numel()
        lo, hi = (t.reshape(-1, width) for t in bounds[layer.pre])
        below, above = (torch.tensor(s, dtype=torch.float64) for s in layer.slopes)
        dead = hi.amax(0) <= 0
        # NOTE: a unit is affine on the domain when its pre-activation stays on one side of 0,
        # or everywhere when the slopes agree (no activation)
        affine = dead | (lo.amin(0) >= 0) | (below == above)
        scale = torch.where(dead, below, above)
        linear = affine & (scale != 0)
        if not _worth_folding(net, layer, int(linear.sum())):
            linear = torch.zeros_like(linear)
        units = linear | (affine & (scale == 0))
        if not units.any():
            continue
        net = _substitute(net, layer.out, units, scale[units], torch.zeros(int(units.sum())))
        _count(ctx, "units removed (dead on the domain)", int((units & ~linear).sum()))
        _count(ctx, "units folded (linear on the domain)", int(linear.sum()))
        _count(ctx, "layers fused", int(layer.out not in net.layers and bool(linear.any())))
    return net


def _count(ctx: PassContext, what: str, n: int) -> None:
    """Count only what happened, so the report lists no zero statistics."""
    if n:
        ctx.count(what, n)


def _worth_folding(net: Net, layer: Layer, count: int) -> bool:
    """Folding `count` linear units saves their weights and bias; new skip terms cost theirs.
    Readers must see the positions as the layer's pre-activation does (no reshape between)."""
    pre = net.forms[layer.pre]
    readers = _readers_of(net, layer.out)
    if any(f.shape[:-1] != pre.shape[:-1] for f in readers):
        return False
    fan_in = sum(w.shape[0] for w in pre.terms.values())
    per_unit = fan_in + 1 + sum(f.bias.numel() for f in readers)
    added = sum(
        w.shape[0] * f.bias.numel()
        for f in readers
        for source, w in pre.terms.items()
        if source not in f.terms
    )
    return count > 0 and count * per_unit > added


# --- approximate part -----------------------------------------------------------------------


def _approximate(graph: Graph, original: Graph, ctx: PassContext) -> Graph:
    """Replace the least important units and input elements by their mean while the output stays
    within the budget of `original` on validation samples."""
    if any(OP_TABLE[n.op].category == "closed_form" for n in graph.nodes()):
        ctx.note("approximate part skipped: the graph holds closed forms (run prune before them)")
        return graph
    net = _parse(graph)
    if not net.layers and not net.inputs:
        return graph
    seed = ctx.options.seed
    stats = _statistics(graph, net, _fit_points(graph, ctx, seed))
    check = _gate_points(graph, ctx, seed + 1)
    within = _gate(original, graph, net, check, ctx.gate)
    kept: list[tuple[Graph, float]] = []

    def attempt(chosen: list[Candidate]) -> bool:
        trial = _emit(graph, net, _without(net, chosen, stats))
        error = within(trial)
        if error is not None:
            kept.append((trial, error))
        return error is not None

    accepted, rejected = _greedy(_candidates(net, stats), attempt)
    _count(ctx, "rejected", rejected)
    if not accepted:
        return graph
    units = sum(1 for _, source, _ in accepted if source in net.layers)
    _count(ctx, "units removed (within budget)", units)
    _count(ctx, "input elements fixed (within budget)", len(accepted) - units)
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
        norms = sum(form.terms[source].norm(dim=1) for form in _readers_of(net, source))
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
            net = _substitute(net, source, mask, torch.zeros(int(mask.sum())), mean[mask])
        else:
            net = _fix_inputs(net, source, mask, mean)
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


# --- reporting -------------------------------------------------------------------------------


def _report_inputs(graph: Graph, ctx: PassContext) -> None:
    """Note the input elements the pruned graph does not read: unreachable, or all-zero weights."""
    live = graph.ancestors(graph.outputs)
    unused = [name for name in graph.inputs if name not in live]
    net = _parse(graph)
    for name in net.inputs:
        weight = sum(form.terms[name].abs().sum(1) for form in _readers_of(net, name))
        spec = ctx.specs[graph.inputs.index(name)]
        names = (
            spec.element_names()
            if spec.numel == len(weight)
            else [f"{name}[..., {k}]" for k in range(len(weight))]
        )
        unused += [names[k] for k in torch.nonzero(weight == 0).reshape(-1).tolist()]
    if unused:
        ctx.count("input elements unused", len(unused))
        ctx.note(f"the output does not depend on input elements: {', '.join(unused)}")
