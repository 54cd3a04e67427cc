"""The sparse example: a ReLU network trained with L1 shrinks under pruning until its exact closed
form is small — the law, recovered without symbolic regression."""

from __future__ import annotations

from pathlib import Path

import nnc
import numpy as np
import sympy
import torch
from helpers import network_output
from nnc.ops import Op

CHECKPOINT = Path(__file__).resolve().parents[2] / "examples" / "sparse" / "model.pt2"


def test_pruning_then_lowering_yields_a_small_exact_form() -> None:
    artifact = nnc.compile(CHECKPOINT, passes=("fold", "prune", "lower"))
    (prune,) = [r for r in artifact.report.passes if r.name == "prune"]
    assert prune.params[1] <= 0.1 * prune.params[0]  # L1 left little: 353 → 15 measured
    assert artifact.graph[artifact.graph.outputs[0]].op is Op.EXPR
    (expr,) = artifact.expressions
    assert sympy.count_ops(expr) <= 40
    x0, x1, x2 = sympy.symbols("x0 x1 x2")
    points = np.random.default_rng(0).uniform(-1, 1, size=(2000, 3))
    formula = sympy.lambdify([x0, x1, x2], expr, "numpy")(*points.T)
    network = network_output(
        torch.export.load(str(CHECKPOINT)).module(), points.astype(np.float32)
    ).ravel()
    law = np.maximum(points[:, 0] - points[:, 1], 0) + points[:, 2] / 2
    assert np.abs(formula - network).max() <= 1e-3 * np.abs(network).max()  # prune's budget
    assert np.abs(formula - law).max() <= 0.05 * np.abs(law).max()  # the network's own error
