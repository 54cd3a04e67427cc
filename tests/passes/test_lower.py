"""lower: small networks become their exact closed form; large ones stay networks."""

from __future__ import annotations

import nnc
import numpy as np
import sympy
import torch
from helpers import FLOAT32_RTOL, assert_matches_model
from nnc.ops import Op
from torch import nn


def test_small_network_becomes_its_exact_formula() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.Tanh(), nn.Linear(2, 1))
    artifact = nnc.compile(model, ["x:float[3]=0..1"], mode="exact")
    assert artifact.graph[artifact.graph.outputs[0]].op is Op.EXPR
    (expr,) = artifact.expressions
    assert expr.count(sympy.tanh) == 2 and expr.free_symbols == set(sympy.symbols("x0 x1 x2"))
    assert_matches_model(artifact, model, ["x:float[3]=0..1"], rtol=FLOAT32_RTOL)
    w1, b1 = model[0].weight.detach().double(), model[0].bias.detach().double()
    w2, b2 = model[2].weight.detach().double(), model[2].bias.detach().double()
    x = np.array([0.3, 0.9, 0.1])
    by_hand = (w2 @ torch.tanh(w1 @ torch.from_numpy(x) + b1) + b2).item()
    value = float(expr.subs(dict(zip(sympy.symbols("x0 x1 x2"), x))))
    assert abs(value - by_hand) <= 1e-6 * abs(by_hand)


def test_large_network_stays_a_network() -> None:
    model = nn.Sequential(nn.Linear(3, 64), nn.Tanh(), nn.Linear(64, 1))
    artifact = nnc.compile(model, ["x:float[3]=0..1"], mode="exact")
    assert any(n.op is Op.MATMUL for n in artifact.graph.nodes())
    (record,) = [r for r in artifact.report.passes if r.name == "lower"]
    assert not record.changed and "kept the network" in record.notes[0]
    assert artifact.expressions == [None]


def test_expression_views(tmp_path) -> None:
    artifact = nnc.compile(nn.Linear(2, 1), ["x:float[2]=0..1"], mode="exact")
    (expr,) = artifact.expressions
    (latex,) = artifact.latex()
    (c,) = artifact.c_code()
    assert "x_{0}" in latex and "x0" in c and "x1" in c
    library = nnc.load(artifact.save(tmp_path / "lin.so"))
    assert library.metadata["closed_form"] == str(expr)


class _MaskedSoftmax(nn.Module):
    """Attention-style masking: the mask becomes a constant holding -inf."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = torch.tensor([True, False, True])
        return torch.softmax(x.masked_fill(mask, float("-inf")), -1)


def test_an_infinite_constant_keeps_the_network() -> None:
    """Regression: a -inf weight made lower fail with OverflowError (an internal error)."""
    artifact = nnc.compile(_MaskedSoftmax(), ["x:float[3]=-1..1"], mode="exact")
    (record,) = [r for r in artifact.report.passes if r.name == "lower"]
    assert not record.changed
    assert_matches_model(artifact, _MaskedSoftmax(), ["x:float[3]=-1..1"])


class _ModAdd32(nn.Module):
    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return (t[:, :1] + t[:, 1:]) % 113


def test_narrow_integers_wrap_unless_their_range_fits() -> None:
    """int32 values wrap around as torch's do; where bounds keep them in range the closed form
    has no wrapping (regression: the int64 closed form differed from torch's int32 network)."""
    artifact = nnc.compile(_ModAdd32(), ["t:int32[2]=0..112"], mode="exact")
    t0, t1 = sympy.symbols("t0 t1")
    assert artifact.expressions == [sympy.Mod(t0 + t1, 113)]
    wide = nnc.compile(_ModAdd32(), ["t:int32[2]=0..2147483647"], mode="exact", samples=256)
    assert wide.report.fidelity.passed
    (expr,) = wide.expressions
    assert expr.has(sympy.Integer(2**32))  # a + b can pass 2^31 - 1: it wraps
