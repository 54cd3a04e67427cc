"""The artifact beside the network (compiler/comparison.py): what each output became, measured;
network and artifact along each input against the ground truth; errors against labels per output."""

from __future__ import annotations

import nnc
import numpy as np
import pytest
from models import TwoOutputLinear
from nnc.comparison import SWEEP_POINTS

LINEAR_SPEC = "x:float[2]=[0..1, -1..3]"


def test_every_output_says_what_it_became_and_its_error(law) -> None:
    artifact, _ = law
    (result,) = artifact.report.outputs
    assert result.kind == "approximate" and result.found_by == "sr"
    assert result.formula == artifact.report.closed_form == "x0*x1/x2**2"
    fidelity = artifact.report.fidelity
    assert result.points == fidelity.points == 4096
    assert result.max_rel == pytest.approx(fidelity.max_rel)  # one output: the same figure


def test_exact_forms_and_kept_networks_are_told_apart(classifier) -> None:
    (result,) = classifier.report.outputs
    assert result.name == "class" and result.kind == "exact"
    assert result.agreement == result.points == 36
    prune = next(r for r in classifier.report.passes if r.name == "prune")
    assert prune.fidelity.agreement == 36 and "36/36 agree" in classifier.report.text()
    exact = nnc.compile(TwoOutputLinear(), [LINEAR_SPEC], mode="exact", quiet=True)
    assert [o.kind for o in exact.report.outputs] == ["exact", "exact"]
    kept = nnc.compile(TwoOutputLinear(), [LINEAR_SPEC], mode="exact", passes="fold", quiet=True)
    assert [o.kind for o in kept.report.outputs] == ["network", "network"]


def test_sweeps_follow_the_network_along_each_input() -> None:
    artifact = nnc.compile(TwoOutputLinear(), [LINEAR_SPEC], mode="exact", quiet=True)
    first, second = artifact.report.curves.sweeps
    assert first.element == "x0" and first.base == {"x1": 1.0}
    assert len(first.values) == SWEEP_POINTS
    truth = 2 * first.values + 1.0  # x1 held at the middle of -1..3
    np.testing.assert_allclose(first.network[:, 0], truth, rtol=1e-6)
    np.testing.assert_allclose(first.artifact[:, 0], truth, rtol=1e-6)
    np.testing.assert_allclose(second.network[:, 1], 2 * 0.5 + second.values, rtol=1e-6)


def test_labels_are_compared_per_output() -> None:
    x = np.random.default_rng(0).uniform([0, -1], [1, 3], size=(64, 2)).astype(np.float32)
    truth = np.repeat(2 * x[:, :1] + x[:, 1:2], 2, axis=1)
    truth[:, 1] += 0.5  # the second output's labels are off by 0.5
    artifact = nnc.compile(
        TwoOutputLinear(), [LINEAR_SPEC], mode="exact", labels=(x, truth), quiet=True
    )
    first, second = (o.truth for o in artifact.report.outputs)
    assert first["network_max_rel_error"] < 1e-6
    scale = np.abs(truth[:, 1]).max()
    assert second["network_max_rel_error"] == pytest.approx(0.5 / scale, rel=1e-5)
    printed = artifact.report.text()
    assert "against the labelled data: network" in printed and "y[1]: network" in printed
