"""Zero-padded convolutions made plain, so they run as implicit-im2col GEMMs (fusion.py) instead of
windows.py's direct loops: the input is copied once per sample into a zero-bordered tensor (a CAT
with zero constants per padded axis) and the convolution reads that without padding. The copy
costs one pass over the input; the GEMM saves most of the convolution's time (LeNet-5's first
layer is such a convolution)."""

from __future__ import annotations

import dataclasses

import torch
from nnc.graph import Graph, Node
from nnc.ops import DTYPES, Op

from .fusion import gemm_shaped_convolution

__all__ = ["explicit_padding"]


def explicit_padding(graph: Graph) -> Graph:
    """The graph with every padded, otherwise plain convolution reading an explicitly padded
    copy of its input (the graph itself when there is none)."""
    padded = [node for node in graph.nodes() if _padded_plain(graph, node)]
    if not padded:
        return graph
    out = graph.copy()
    for node in padded:
        source = node.inputs[0]
        for axis, pad in enumerate(node.attrs["padding"], start=2):
            if pad:
                source = _pad_axis(out, source, axis, pad)
        attrs = {**node.attrs, "padding": [0] * len(node.attrs["padding"])}
        out.replace(
            node.name, dataclasses.replace(node, inputs=(source, *node.inputs[1:]), attrs=attrs)
        )
    return out


def _padded_plain(graph: Graph, node: Node) -> bool:
    """A convolution that fusion.py would plan as a GEMM but for its padding."""
    return (
        node.op is Op.CONV and any(node.attrs["padding"]) and gemm_shaped_convolution(graph, node)
    )


def _pad_axis(graph: Graph, source: str, axis: int, pad: int) -> str:
    """`source` with `pad` zeros before and after along `axis`."""
    node = graph[source]
    shape = list(node.shape)
    shape[axis] = pad
    zeros = graph.add(Op.CONST, value=torch.zeros(shape, dtype=DTYPES[node.dtype]))
    return graph.add(Op.CAT, [zeros, source, zeros], {"dim": axis})
