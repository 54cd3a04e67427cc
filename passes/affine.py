"""The affine network inside a graph, as pruning reads and rewrites it: affine forms (a sum of
matmuls by constant matrices plus a constant bias) and the activations applied unit by unit
between them.

    %xw = matmul(%x, %w1); %h = add(%xw, %b1)      Form(root=h, terms={x: W1}, bias=b1)
    %r = relu(%h)                                  Layer(pre=h, out=r, slopes=(0, 1))
    %y = add(matmul(%r, %w2), %b2)                 Form(root=y, terms={r: W2}, bias=b2)

A hidden layer is an activation between the form that feeds it and the forms that read it (matmul
terms are its only uses). `parse_net` reads a Net from a graph; `substitute` and `fix_inputs`
replace units or input elements by affine functions of nothing (constants) or of their
pre-activation; `emit_net` writes the rewritten net back into a copy of the graph.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

import torch
from nnc.graph import Graph
from nnc.ops import DTYPES, OP_TABLE, Op
from nnc.rewrite import remove_dead

__all__ = [
    "SLOPES",
    "Form",
    "Layer",
    "Net",
    "emit_net",
    "fix_inputs",
    "parse_net",
    "readers_of",
    "substitute",
]


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


def parse_net(graph: Graph) -> Net:
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


def substitute(
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


def fix_inputs(net: Net, source: str, elements: torch.Tensor, values: torch.Tensor) -> Net:
    """Replace the masked elements of input `source` by constants, folded into the biases."""
    forms = dict(net.forms)
    for root, form in net.forms.items():
        if source in form.terms:
            weight = form.terms[source]
            kept = torch.where(elements[:, None], 0.0, weight)
            bias = form.bias + values[elements] @ weight[elements]
            forms[root] = dataclasses.replace(form, terms={**form.terms, source: kept}, bias=bias)
    return Net(forms, net.layers, net.inputs)


def readers_of(net: Net, source: str) -> list[Form]:
    return [form for form in net.forms.values() if source in form.terms]


def emit_net(graph: Graph, base: Net, net: Net) -> Graph:
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
