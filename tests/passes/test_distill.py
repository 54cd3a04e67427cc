"""Named-module distillation: an edge model inside a message-passing network is replaced by its
law while the rest of the model compiles faithfully around it; named modules' searches fan out."""

from __future__ import annotations

import sys
from pathlib import Path

import nnc
import numpy as np
import pytest
import sympy
import torch
from helpers import GATE_MAX, network_output
from nnc.fidelity import relative_errors
from nnc.ops import Op
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples" / "nbody"))
from graph_network import NBody

SPEC = "x:float[4,2]=-0.5..0.5"


class ExactSpring(nn.Module):
    """An edge model that computes the stiffening-spring law exactly, with torch ops."""

    def forward(self, separation: torch.Tensor) -> torch.Tensor:
        return separation * (separation * separation).sum(-1, keepdim=True)


def _network() -> NBody:
    model = NBody()
    model.edge_model = ExactSpring()
    return model


def test_edge_model_distilled_into_its_law(tmp_path: Path) -> None:
    model = _network()
    artifact = nnc.compile(model, [SPEC], symbolic=["edge_model"], engine="basis")
    laws = [n for n in artifact.graph.nodes() if n.op is Op.EXPR]
    assert len(laws) == 2 and all(n.attrs["rowwise"] for n in laws)
    u0, u1 = sympy.symbols("u0 u1")
    found = sorted((sympy.simplify(n.attrs["expr"]) for n in laws), key=str)
    assert sympy.simplify(found[0] - u0 * (u0**2 + u1**2)) == 0
    assert sympy.simplify(found[1] - u1 * (u0**2 + u1**2)) == 0
    assert any(n.op is Op.MATMUL for n in artifact.graph.nodes())  # the aggregation stays
    x = np.random.default_rng(0).uniform(-0.5, 0.5, size=(64, 4, 2)).astype(np.float32)
    expected = network_output(model, x)
    np.testing.assert_allclose(artifact(x), expected, rtol=1e-5, atol=1e-6)
    library = nnc.load(artifact.save(tmp_path / "nbody.so"))
    np.testing.assert_allclose(library(x), expected, rtol=1e-5, atol=1e-6)


def test_unknown_module_name_suggests_one() -> None:
    with pytest.raises(nnc.InputError, match="no module 'edge_mode'") as caught:
        nnc.compile(NBody(), [SPEC], symbolic=["edge_mode"], engine="basis")
    assert "edge_model" in caught.value.hint


def test_trained_edge_model_distils_into_the_spring_law() -> None:
    checkpoint = ROOT / "examples" / "nbody" / "model.pt2"
    artifact = nnc.compile(
        checkpoint, symbolic=["edge_model"], engine="basis", gate_rmse=0.03, gate_max=0.1
    )
    laws = sorted((n.attrs["expr"] for n in artifact.graph.nodes() if n.op is Op.EXPR), key=str)
    u0, u1 = sympy.symbols("u0 u1")
    assert [sympy.simplify(e) for e in laws] == [u0 * (u0**2 + u1**2), u1 * (u0**2 + u1**2)]
    fidelity = artifact.report.fidelity
    assert fidelity.passed and fidelity.max_rel <= 0.1


class TwoStages(nn.Module):
    """Two named modules applied row by row, the second fed by the first: a linear map, then a
    squashed linear map."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(2, 3)
        self.second = nn.Sequential(nn.Tanh(), nn.Linear(3, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x))


def test_modules_distilled_on_workers_give_the_same_laws() -> None:
    """Every column of every named module is one search on the fan-out: five searches, the same
    laws on two workers as in this process, each compile within the gate of the network."""
    torch.manual_seed(0)
    model = TwoStages()
    spec = "x:float[3,2]=-1..1"
    options = {"symbolic": ["first", "second"], "engine": "basis", "sr_samples": 300}
    serial = nnc.compile(model, [spec], workers=1, **options)
    pooled = nnc.compile(model, [spec], workers=2, **options)
    fanout = pooled.report.fanout
    assert fanout["engine"] == "local" and fanout["tasks"] == 5
    assert fanout["startup_seconds"] is not None, "the searches ran on the workers"
    assert _laws(serial) == _laws(pooled) and len(_laws(serial)) == 5
    x = np.random.default_rng(2).uniform(-1, 1, size=(256, 3, 2)).astype(np.float32)
    expected = network_output(model, x)
    for artifact in (serial, pooled):
        assert relative_errors(artifact(x), expected).max_rel <= GATE_MAX


def _laws(artifact: nnc.Artifact) -> list[str]:
    return [str(n.attrs["expr"]) for n in artifact.graph.nodes() if n.op is Op.EXPR]
