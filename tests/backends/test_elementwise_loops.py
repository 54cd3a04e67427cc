"""The loop nest of an elementwise op (codegen._coalesced): axes merge where every operand steps
through them as through one, so a same-shape op is one long loop the vectoriser covers without a
scalar remainder per row; broadcasting keeps the axes it must. Then stock Conv2d + BatchNorm2d +
ReLU (BatchNorm's per-channel scale and shift are elementwise ops) against torch."""

from __future__ import annotations

import nnc
import numpy as np
import pytest
import torch
from helpers import FLOAT32_ATOL, FLOAT32_RTOL, network_output
from nnc.backends.codegen import _coalesced
from nnc.backends.kernel import broadcast_strides, strides
from torch import nn


@pytest.mark.parametrize(
    ("shape", "operands", "sizes"),
    [
        ((6, 28, 28), [(6, 28, 28)], [4704]),  # ReLU: one loop
        ((1, 6, 28, 28), [(1, 6, 1, 1)], [6, 784]),  # a per-channel scale
        ((4, 5), [(5,)], [4, 5]),  # a row vector repeated: no merge
        ((4, 5), [(4, 1)], [4, 5]),
        ((2, 3, 4), [(2, 3, 4), (1, 1, 1)], [24]),  # a scalar broadcasts along every axis
        ((2, 1, 4), [(2, 1, 4)], [8]),  # size-1 axes drop out
        ((), [()], []),
    ],
)
def test_axes_merge_where_every_operand_allows(shape, operands, sizes) -> None:
    got_sizes, got_strides = _coalesced(
        shape, [strides(shape), *(broadcast_strides(o, len(shape)) for o in operands)]
    )
    assert got_sizes == sizes
    # every merged nest visits the same elements at the same offsets as the full nest
    full = [strides(shape), *(broadcast_strides(o, len(shape)) for o in operands)]
    for operand, merged in zip(full, got_strides):
        visits = [sum(i * s for i, s in zip(index, operand)) for index in np.ndindex(*shape)]
        coalesced = [sum(i * s for i, s in zip(index, merged)) for index in np.ndindex(*sizes)]
        assert coalesced == visits


def test_conv_batchnorm_relu_matches_torch() -> None:
    torch.manual_seed(3)
    norm = nn.BatchNorm2d(6)
    norm.running_mean.uniform_(-0.2, 0.2)
    norm.running_var.uniform_(0.5, 1.5)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), norm, nn.ReLU(), nn.MaxPool2d(2)).eval()
    art = nnc.compile(model, ["x:float[3,16,20]=-1..1"], mode="exact", quiet=True)
    x = np.random.default_rng(0).uniform(-1, 1, size=(9, 3, 16, 20))
    expected = network_output(model, x.astype(np.float32))
    for rows in (x, x.astype(np.float32)):
        np.testing.assert_allclose(art(rows), expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
