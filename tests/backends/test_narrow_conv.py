"""Convolutions with few output channels, vectorised over output positions (narrow_conv.py), on
stock torch.nn layers: 1-D, 2-D and 3-D, padding, strides and dilation on the leading axes,
widths that leave a partial vector, fused activations, no bias; batches of 1 and of several
tiles; float32 and double lanes. Outputs against torch; the form is checked to be the one taken
where this machine's vector width says it applies."""

from __future__ import annotations

import re

import nnc
import numpy as np
import pytest
import torch
from helpers import FLOAT32_ATOL, FLOAT32_RTOL, network_output
from nnc.backends.isa import isa_of
from torch import nn

CASES = {
    "LeNet's first layer": (lambda: nn.Conv2d(1, 6, 5, padding=2), (1, 28, 28)),
    "a partial last vector": (lambda: nn.Conv2d(3, 4, 3), (3, 9, 17)),
    "strided and dilated rows": (
        lambda: nn.Conv2d(2, 8, 3, stride=(2, 1), dilation=(1, 2)),
        (2, 12, 35),
    ),
    "Conv1d": (lambda: nn.Conv1d(3, 5, 4), (3, 40)),
    "Conv3d": (lambda: nn.Conv3d(1, 2, 3, padding=1), (1, 4, 5, 18)),
    "ReLU fused": (lambda: nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU()), (1, 6, 20)),
    "Tanh fused": (lambda: nn.Sequential(nn.Conv2d(1, 3, 3), nn.Tanh()), (1, 6, 20)),
    "no bias": (lambda: nn.Conv2d(2, 2, (1, 3), bias=False), (2, 3, 16)),
}


def _positions_vectorised(model: nn.Module, shape: tuple[int, ...], lanes: int) -> bool:
    """narrow_conv.vectorises_positions, from the layer: channels fill ≤ half the lanes, the
    last axis has stride 1 and at least half a vector of outputs."""
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d))
    with torch.no_grad():
        width = conv(torch.zeros(1, *shape)).shape[-1]
    return 2 * conv.out_channels <= lanes and conv.stride[-1] == 1 and 2 * width >= lanes


@pytest.mark.parametrize("precision", ["network", "double"])
@pytest.mark.parametrize("case", list(CASES))
def test_narrow_convolutions_match_torch(case: str, precision: str) -> None:
    make, shape = CASES[case]
    torch.manual_seed(sum(map(ord, case)))
    model = make().eval()
    spec = f"x:float[{','.join(map(str, shape))}]=-1..1"
    art = nnc.compile(model, [spec], mode="exact", precision=precision, quiet=True)
    lanes = isa_of("host").lanes(4 if precision == "network" else 8)
    taken = re.search(r"@\"?conv_[\w.]*\.k_offsets", art.llvm_ir()) is not None
    assert taken == _positions_vectorised(model, shape, lanes), case
    rng = np.random.default_rng(0)
    for n in (1, 5, 67):
        x = rng.uniform(-1, 1, size=(n, *shape))
        got = art(x)
        expected = network_output(model, x.astype(np.float32))
        np.testing.assert_allclose(got, expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
        np.testing.assert_array_equal(art(x[0]), got[0])  # one sample: the same code
        # float32 rows: the typed entries' kernels, which read an unpadded input in place
        single = x.astype(np.float32)
        np.testing.assert_allclose(art(single), expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
        np.testing.assert_array_equal(art(single[0]), art(single[:1])[0])
