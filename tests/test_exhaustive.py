"""Exhaustive checks in ranges: the same figures serially and on workers, equal to a count made
with torch on every point, and what nnc.compile checks (and states) on a domain beyond
enumerate_limit but within enumerate_limit per worker."""

from __future__ import annotations

import nnc
import numpy as np
import pytest
import torch
from models import Scaled
from nnc.api import with_output_head
from nnc.domain import Domain
from nnc.exhaustive import (
    SHOWN_DISAGREEMENTS,
    RangeCheck,
    check_exhaustively,
    check_range,
    check_ranges,
    merge,
)
from nnc.fanout import LocalPool, Serial
from nnc.fidelity import Fidelity, Gate
from nnc.frontend import to_graph, trace
from nnc.native import JitCompiler
from nnc.options import make_options
from nnc.spec_grammar import parse_inputs
from torch import nn

SPEC = "x:int[3]=0..46"  # 103,823 points


def traced(model: nn.Module, spec: str):
    """The front end's graph with an argmax head, as nnc.compile builds it."""
    specs = parse_inputs([spec])
    head = make_options(output="argmax").output
    return with_output_head(to_graph(trace(model, specs), specs), head), specs


def torch_agreement(network: nn.Module, other: nn.Module, spec: str) -> int:
    """Points where the two networks' argmax agree, counted with torch on every point."""
    specs = parse_inputs([spec])
    (points,) = Domain(specs).enumerate_range(0, Domain(specs).size())
    with torch.no_grad():
        x = torch.from_numpy(points)
        return int((network(x).argmax(-1) == other(x).argmax(-1)).sum())


@pytest.fixture(scope="module")
def pool():
    fanout = LocalPool(2)
    yield fanout
    fanout.close()


def test_ranges_count_what_torch_counts_serially_and_on_workers(pool):
    network, other = Scaled(0), Scaled(1)  # "other" plays a candidate that is often wrong
    options = make_options(output="argmax", mode="exact")
    network_graph, specs = traced(network, SPEC)
    other_graph, _ = traced(other, SPEC)
    gate = Gate.from_options(options)
    checks = [
        check_exhaustively(
            other_graph, network_graph, specs, JitCompiler(), options, gate, True, fanout
        )
        for fanout in (Serial(), pool)
    ]
    truth = torch_agreement(network, other, SPEC)
    assert 0 < truth < 47**3, "the candidate agrees on some points, not all"
    for fidelity in checks:
        assert fidelity.complete and fidelity.points == 47**3
        assert fidelity.agreement == truth
        assert len(fidelity.disagreements) == min(1000, 47**3 - truth)
        assert not fidelity.passed
    assert pool.tasks >= 2, "the workers ran ranges"
    assert checks[0] == checks[1], "the same figures whatever ran the ranges"


def test_a_task_returns_only_the_disagreements_that_can_be_shown():
    """Four ranges in one task, each with more than SHOWN_DISAGREEMENTS disagreements: the task
    returns the first ones only, and the merged figures are those of the ranges checked alone."""
    options = make_options(output="argmax", mode="exact")
    network_graph, specs = traced(Scaled(0), SPEC)
    other_graph, _ = traced(Scaled(1), SPEC)
    gate = Gate.from_options(options)
    work = tuple(
        RangeCheck(
            other_graph, network_graph, specs, JitCompiler(), options, gate, True, a, a + 20_000
        )
        for a in range(0, 80_000, 20_000)
    )
    alone = [check_range(one) for one in work]
    assert all(len(t.fidelity.disagreements) == SHOWN_DISAGREEMENTS for t in alone)
    task = check_ranges(work)
    assert [len(t.fidelity.disagreements) for t in task] == [SHOWN_DISAGREEMENTS, 0, 0, 0]
    assert [t.fidelity.agreement for t in task] == [t.fidelity.agreement for t in alone]
    assert merge(task, None, gate, True) == merge(alone, None, gate, True)


def _fidelity(points: int, max_abs: float, rmse: float, agreement: int) -> Fidelity:
    return Fidelity(points, None, False, max_abs, max_abs / 4.0, rmse, 1e-5, agreement)


def test_merging_tallies_by_hand():
    """Two ranges: 3 points with max error 0.2 (network scale 4), 1 point with 0.4 (scale 8)."""
    from nnc.exhaustive import Tally

    merged = merge(
        [Tally(_fidelity(3, 0.2, 0.1, 3), 4.0), Tally(_fidelity(1, 0.4, 0.4, 0), 8.0)],
        4,
        Gate(),
        approximate=True,
    )
    assert merged.points == 4 and merged.complete and merged.agreement == 3
    assert merged.max_abs == 0.4 and merged.max_rel == pytest.approx(0.4 / 8.0)
    assert merged.rmse == pytest.approx(np.sqrt((3 * 0.1**2 + 0.4**2) / 4))
    assert merged.required == 4, "99.9% of 4 points, rounded up"


def test_compile_checks_every_point_up_to_the_limit_per_worker():
    """27,000 points > enumerate_limit 20,000: sampled with one worker, every point with two
    (the limit scales with the workers and the report states it)."""
    spec = "x:int[3]=0..29"
    model = Scaled(2)
    one = nnc.compile(
        model, [spec], output="argmax", mode="exact", enumerate_limit=20_000, workers=1
    )
    assert not one.report.fidelity.complete and one.report.fidelity.points == 4096
    two = nnc.compile(
        model, [spec], output="argmax", mode="exact", enumerate_limit=20_000, workers=2
    )
    fidelity = two.report.fidelity
    assert fidelity.complete and fidelity.points == fidelity.agreement == 30**3
    assert "exhaustive checks up to 40,000 points" in two.report.text()
    assert two.report.to_json()["fanout"]["exhaustive_limit"] == 40_000
