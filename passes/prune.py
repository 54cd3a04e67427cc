"""prune: remove the units a network does not use on its domain, and report unused inputs.

    %h : f32[1, 64] = add(%xw, %b)              %h : f32[1, 41] = add(%xw', %b')
    %r : f32[1, 64] = relu(%h)          →       %r : f32[1, 41] = relu(%h)
    %y : f32[1, 1] = matmul(%r, %w2)            %y : f32[1, 1] = matmul(%r, %w2')

The network is read as affine forms and the layers between them (affine.py).

Sound part, every mode. Interval bounds of the pre-activations (nnc.bounds) prove that
- a ReLU unit is never positive on the domain: it is removed (its column of the weights and bias
  before, its row of the weights after);
- a unit's activation is linear on the whole domain (ReLU always active, leaky ReLU always on one
  side, no activation at all): it is folded into the forms that read it, when that saves
  parameters. When a whole layer goes, its linear maps are fused: W1·W2, b1·W2 + b2.
Rounds repeat on the rebuilt graph, whose fused layers bound tighter.

Approximate part, modes auto and symbolic: units and input elements replaced by their mean within
the gate's pruning budget (prune_budget.py).

Input elements the pruned graph no longer reads are reported.
"""

from __future__ import annotations

import torch
from nnc.bounds import Interval, node_bounds
from nnc.graph import Graph
from nnc.pipeline import PassContext, register_pass

from .affine import Layer, Net, emit_net, parse_net, readers_of, substitute
from .prune_budget import approximate

__all__ = ["prune"]

MAX_ROUNDS = 4  # sound rounds
APPROXIMATE_MODES = ("auto", "symbolic")


@register_pass("prune", exact=False)
def prune(graph: Graph, ctx: PassContext) -> Graph:
    """Remove dead and always-linear units (sound), then units within the error budget (auto)."""
    if not ctx.specs:
        ctx.note("skipped: needs the input specs (bounds start from the domain)")
        return graph
    pruned = _sound(graph, ctx)
    if ctx.options.mode in APPROXIMATE_MODES:
        pruned = approximate(pruned, graph, ctx)
    _report_inputs(pruned, ctx)
    return pruned


def _sound(graph: Graph, ctx: PassContext) -> Graph:
    """Rounds of bound-proved removals and folds; each round bounds the rebuilt graph afresh."""
    start = graph
    for _ in range(MAX_ROUNDS):
        net = parse_net(graph)
        if all(layer.slopes is None for layer in net.layers.values()):
            break
        proved = _proved(net, node_bounds(graph, ctx.specs), ctx)
        if proved is net:
            break
        graph = emit_net(graph, net, proved)
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
        net = substitute(net, layer.out, units, scale[units], torch.zeros(int(units.sum())))
        ctx.count("units removed (dead on the domain)", int((units & ~linear).sum()))
        ctx.count("units folded (linear on the domain)", int(linear.sum()))
        ctx.count("layers fused", int(layer.out not in net.layers and bool(linear.any())))
    return net


def _worth_folding(net: Net, layer: Layer, count: int) -> bool:
    """Folding `count` linear units saves their weights and bias; new skip terms cost theirs.
    Readers must see the positions as the layer's pre-activation does (no reshape between)."""
    pre = net.forms[layer.pre]
    readers = readers_of(net, layer.out)
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


def _report_inputs(graph: Graph, ctx: PassContext) -> None:
    """Note the input elements the pruned graph does not read: unreachable, or all-zero weights."""
    live = graph.ancestors(graph.outputs)
    unused = [name for name in graph.inputs if name not in live]
    net = parse_net(graph)
    for name in net.inputs:
        weight = sum(form.terms[name].abs().sum(1) for form in readers_of(net, name))
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
