"""explain: mechanism evidence for the report; it never changes the graph.

For a network that embeds integer tokens (an `Embedding`), it takes the discrete Fourier transform
of the embedding matrix over the token axis, names the key frequencies (the few that carry most of
its norm), and checks the claim by ablation: the network with its embedding restricted to those
frequencies is compiled and run on every point of the domain, and its decisions are compared with
the network's (Nanda et al. 2023 find 5 such frequencies for modular addition).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from nnc.graph import Graph, Node
from nnc.ops import Op
from nnc.pipeline import DiscreteProblem, PassContext, register_pass

__all__ = ["explain", "fourier_spectrum", "key_frequencies", "restrict_to_frequencies"]

MAX_KEY_FREQUENCIES = 10  # key frequencies: the strongest, cut at the largest drop among these


@register_pass("explain", exact=True)
def explain(graph: Graph, ctx: PassContext) -> Graph:
    """Find the key Fourier frequencies of a token embedding and test them by ablation (analysis)."""
    embedding = _token_embedding(graph, ctx.discrete)
    if embedding is None:
        ctx.note("skipped: needs an integer domain enumerated completely and a token embedding")
        return graph
    node, vocabulary = embedding
    weights = node.value.detach().double().numpy()[:vocabulary]
    spectrum = fourier_spectrum(weights)
    keys = key_frequencies(spectrum)
    share = spectrum[keys].sum() / spectrum[1:].sum()
    ctx.note(
        f"embedding %{node.name} ({weights.shape[0]} tokens × {weights.shape[1]}): key "
        f"frequencies {keys} carry {share:.1%} of its non-constant norm"
    )
    ctx.count("key frequencies", len(keys))
    ctx.attach(
        "embedding spectrum",
        {
            "share": (spectrum / spectrum[1:].sum()).tolist(),
            "key frequencies": keys,
            "tokens": vocabulary,
        },
    )
    restricted = restrict_to_frequencies(node.value, vocabulary, keys)
    agreement = _ablated_agreement(graph, node, restricted, ctx)
    if agreement is not None:
        total = len(ctx.discrete.target)
        ctx.note(
            f"ablation: with the embedding restricted to those frequencies the network "
            f"agrees with itself on {agreement}/{total} points"
        )
    ctx.note(
        "spectrum (frequency: share of norm): "
        + ", ".join(
            f"{k}: {spectrum[k] / spectrum[1:].sum():.3f}"
            for k in np.argsort(-spectrum[1:])[:12] + 1
        )
    )
    return graph


def fourier_spectrum(weights: np.ndarray) -> np.ndarray:
    """Norm of the embedding in each frequency k = 0 .. p//2 (k and p-k together), over tokens."""
    p = len(weights)
    transform = np.fft.fft(weights, axis=0)
    power = (np.abs(transform) ** 2).sum(axis=1)
    spectrum = np.zeros(p // 2 + 1)
    for k in range(p):
        spectrum[min(k, p - k)] += power[k]
    return spectrum


def key_frequencies(spectrum: np.ndarray) -> list[int]:
    """The strongest non-zero frequencies, up to the largest drop in norm between neighbours in
    the sorted spectrum (a sparse embedding has a few strong frequencies and a floor of noise)."""
    order = np.argsort(-spectrum[1:])[: MAX_KEY_FREQUENCIES + 1] + 1
    strengths = spectrum[order]
    drops = strengths[:-1] / np.maximum(strengths[1:], 1e-300)
    cut = int(np.argmax(drops)) + 1
    return sorted(int(k) for k in order[:cut])


def restrict_to_frequencies(
    weights: torch.Tensor, vocabulary: int, keys: list[int]
) -> torch.Tensor:
    """The embedding's first `vocabulary` rows projected onto the constant and the key frequencies."""
    p = vocabulary
    t = np.arange(p)
    basis = [np.ones(p) / np.sqrt(p)]
    for k in keys:
        basis += [
            np.cos(2 * np.pi * k * t / p) * np.sqrt(2 / p),
            np.sin(2 * np.pi * k * t / p) * np.sqrt(2 / p),
        ]
    basis = np.stack(basis, axis=1)  # orthonormal columns
    head = weights.detach().double().numpy()[:p]
    projected = basis @ (basis.T @ head)
    out = weights.detach().clone()
    out[:p] = torch.from_numpy(projected).to(weights.dtype)
    return out


def _token_embedding(graph: Graph, problem: DiscreteProblem | None) -> tuple[Node, int] | None:
    """The constant table gathered by an input's integer elements, and the token count p."""
    if problem is None:
        return None
    for node in graph.nodes():
        if node.op is not Op.TAKE or node.attrs["dim"] != 0:
            continue
        table, index = graph[node.inputs[0]], graph[node.inputs[1]]
        if table.op is Op.CONST and len(table.shape) == 2 and index.op is Op.INPUT:
            names = [
                name
                for name, position, _ in problem.bindings
                if graph.inputs[position] == index.name
            ]
            if names:
                vocabulary = int(max(problem.variables[n].max() for n in names)) + 1
                if vocabulary >= 8:
                    return table, vocabulary
    return None


def _ablated_agreement(
    graph: Graph, node: Node, restricted: torch.Tensor, ctx: PassContext
) -> int | None:
    """Decisions of the network with the restricted embedding, compared with the network's own."""
    problem = ctx.discrete
    ablated = graph.copy()
    ablated.replace(node.name, dataclasses.replace(node, value=restricted))
    inputs = [ablated[name] for name in ablated.inputs]
    if len(inputs) != 1 or ctx.points is None:
        return None
    specs = ctx.specs
    native = ctx.native(ablated, specs, ctx.options.output.kind)
    decisions = native.run(ctx.points).reshape(len(problem.target))
    return int((decisions == problem.target).sum())
