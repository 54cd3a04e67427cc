"""Max pooling vectorised along the last axis (vector_pool.py) on stock torch.nn layers: 1-D, 2-D
and 3-D, windows equal to the stride or overlapping, rows that leave a partial vector; batches of
1 and of several tiles; float32 and double lanes. Outputs against torch; the vector form is
checked to be the one taken exactly where its conditions hold, and windows.py's loops elsewhere
(padding, dilation, windows past the input) still give torch's answers."""

from __future__ import annotations

import nnc
import numpy as np
import pytest
import torch
from helpers import FLOAT32_ATOL, FLOAT32_RTOL, network_output
from nnc.backends.isa import isa_of
from torch import nn

CASES = {
    "LeNet's 2x2": (lambda: nn.MaxPool2d(2), (6, 28, 28), True),
    "overlapping 3x3, stride 2": (lambda: nn.MaxPool2d(3, 2), (2, 9, 35), True),
    "2x3 window, stride (1, 3)": (lambda: nn.MaxPool2d((2, 3), (1, 3)), (3, 5, 50), True),
    "MaxPool1d": (lambda: nn.MaxPool1d(2), (4, 41), True),
    "MaxPool3d": (lambda: nn.MaxPool3d(2), (1, 4, 6, 36), True),
    "padded": (lambda: nn.MaxPool2d(2, padding=1), (2, 8, 30), False),
    "dilated": (lambda: nn.MaxPool2d(2, dilation=2), (2, 8, 30), False),
    "windows past the input": (lambda: nn.MaxPool2d(2, ceil_mode=True), (2, 7, 33), False),
    "average": (lambda: nn.AvgPool2d(2), (2, 8, 32), False),
}


@pytest.mark.parametrize("precision", ["network", "double"])
@pytest.mark.parametrize("case", list(CASES))
def test_max_pooling_matches_torch(case: str, precision: str) -> None:
    make, shape, vectorisable = CASES[case]
    model = make().eval()
    spec = f"x:float[{','.join(map(str, shape))}]=-1..1"
    art = nnc.compile(model, [spec], mode="exact", precision=precision, quiet=True)
    with torch.no_grad():
        width = model(torch.zeros(1, *shape)).shape[-1]
    lanes = isa_of("host").lanes(4 if precision == "network" else 8)
    taken = "pool.tap" in art.llvm_ir()
    assert taken == (vectorisable and 2 * width >= lanes), case
    # a maximum rounds nothing: equal to torch's; an average divides
    tolerance = (
        {"rtol": 0, "atol": 0}
        if "average" not in case
        else {"rtol": FLOAT32_RTOL, "atol": FLOAT32_ATOL}
    )
    rng = np.random.default_rng(1)
    for n in (1, 5, 67):
        x = rng.uniform(-1, 1, size=(n, *shape))
        expected = network_output(model, x.astype(np.float32))
        for rows in (x, x.astype(np.float32)):  # the double entry, and float32 rows in place
            np.testing.assert_allclose(art(rows), expected, **tolerance)
        np.testing.assert_array_equal(art(x[0]), art(x[:1])[0])
