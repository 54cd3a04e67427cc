"""Softmax and layer norm rows: found in graphs of stock torch.nn layers as torch decomposes them,
left alone when an inner value is read elsewhere, and computed row by row to the network's own
values in both precisions and for row lengths from 1 up."""

from __future__ import annotations

import nnc
import numpy as np
import pytest
import torch
from helpers import FLOAT32_ATOL, FLOAT32_RTOL, network_output, pass_context
from nnc.backends.rows import plan_rows
from nnc.frontend import to_graph, trace
from nnc.passes.fold import fold
from nnc.spec_grammar import parse_inputs
from torch import nn


def _graph(model: nn.Module, spec: str):
    specs = parse_inputs([spec])
    return fold(to_graph(trace(model.eval(), specs), specs), pass_context())


class NormThenSoftmax(nn.Module):
    def __init__(self, width: int, affine: bool = True) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=affine)
        self.linear = nn.Linear(width, width)
        if affine:
            with torch.no_grad():
                self.norm.weight.normal_()
                self.norm.bias.normal_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.linear(self.norm(x)), dim=-1)


@pytest.mark.parametrize("affine", [True, False])
def test_both_groups_are_found_whole(affine: bool) -> None:
    torch.manual_seed(0)
    graph = _graph(NormThenSoftmax(8, affine), "x:float[4,8]=-1..1")
    plans = sorted(plan_rows(graph).values(), key=lambda p: p.kind)
    assert [p.kind for p in plans] == ["layernorm", "softmax"]
    norm = plans[0]
    assert (norm.scale is not None, norm.shift is not None) == (affine, affine)
    assert norm.eps == pytest.approx(1e-5) and norm.length == 8
    assert plans[1].output == graph.outputs[0]


class PeekAtTheMax(nn.Module):
    """The row maximum is an output too: the softmax's inner value is read outside it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        peak = x.amax(-1, keepdim=True)
        e = torch.exp(x - peak)
        return torch.cat([e / e.sum(-1, keepdim=True), peak], dim=-1)


def test_a_group_whose_inner_value_is_read_elsewhere_is_left_alone() -> None:
    graph = _graph(PeekAtTheMax(), "x:float[5]=-1..1")
    assert plan_rows(graph) == {}
    art = nnc.compile(PeekAtTheMax(), ["x:float[5]=-1..1"], mode="exact")
    x = np.random.default_rng(0).uniform(-1, 1, (9, 5)).astype(np.float32)
    np.testing.assert_allclose(
        art(x), network_output(PeekAtTheMax(), x), rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL
    )


@pytest.mark.parametrize("width", [1, 7, 33])
@pytest.mark.parametrize("precision", ["network", "double"])
def test_rows_compute_what_the_network_computes(width: int, precision: str) -> None:
    torch.manual_seed(width)
    model = NormThenSoftmax(width).eval()
    spec = f"x:float[3,{width}]=-3..3"
    art = nnc.compile(model, [spec], mode="exact", precision=precision)
    x = np.random.default_rng(width).uniform(-3, 3, (21, 3, width)).astype(np.float32)
    np.testing.assert_allclose(
        art(x), network_output(model, x), rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL
    )


def test_attention_softmax_rows() -> None:
    """The grokking transformer's attention pattern (masked scores, softmax over keys): one
    softmax group, and the compiled transformer decides as the network does."""
    from transformer import GrokkingTransformer

    torch.manual_seed(1)
    model = GrokkingTransformer().eval()
    spec = "tokens:int[3]=[a:0..112, b:0..112, 113]"
    assert [p.kind for p in plan_rows(_graph(model, spec)).values()] == ["softmax"]
    art = nnc.compile(model, [spec], mode="exact")
    pairs = np.random.default_rng(3).integers(0, 113, (40, 2))
    tokens = np.column_stack([pairs, np.full(40, 113)])
    np.testing.assert_allclose(
        art(tokens), network_output(model, tokens), rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL
    )
