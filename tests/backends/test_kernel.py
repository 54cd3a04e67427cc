"""The kernel seam: workspace planning, tiles of samples, partial tiles and malloc'd workspaces,
each checked against the network and against single-sample evaluation."""

from __future__ import annotations

import nnc
import numpy as np
import pytest
import torch
from helpers import FLOAT32_ATOL, FLOAT32_RTOL, network_output
from nnc.backends.entrypoints import tile_for
from nnc.backends.kernel import WorkspacePlan
from nnc.backends.memory import STACK_WORKSPACE_BYTES
from nnc.frontend import to_graph, trace
from nnc.ops import Op
from nnc.spec_grammar import parse_inputs
from torch import nn


def _graph(model: nn.Module, spec: str):
    specs = parse_inputs([spec])
    return to_graph(trace(model, specs), specs)


def test_buffers_alive_at_once_never_share_bytes():
    model = nn.Sequential(
        nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2)
    )
    graph = _graph(model, "x:float[4]=0..1")
    plan = WorkspacePlan(graph, tile=4)
    order = {n.name: i for i, n in enumerate(graph.nodes())}
    owner = {}  # a reshape reads its source's bytes: its readers keep the source alive
    for node in graph.nodes():
        owner[node.name] = owner[node.inputs[0]] if node.op is Op.RESHAPE else node.name
    last = {name: order[name] for name in plan.offsets}
    for node in graph.nodes():
        for source in node.inputs:
            if owner[source] in last:
                last[owner[source]] = max(last[owner[source]], order[node.name])
    spans = {
        name: (plan.offsets[name], plan.offsets[name] + 4 * graph[name].numel * 8)
        for name in plan.offsets
    }
    for a in plan.offsets:
        for b in plan.offsets:
            if a < b and order[a] <= last[b] and order[b] <= last[a]:
                (a0, a1), (b0, b1) = spans[a], spans[b]
                assert a1 <= b0 or b1 <= a0, f"%{a} and %{b} are alive together and overlap"
    assert plan.bytes < plan.unshared_bytes  # a chain of layers reuses its buffers


@pytest.mark.parametrize("n", [0, 1, 7, 15, 16, 17, 40])
def test_batches_of_every_size_match_the_network(n):
    torch.manual_seed(n)
    model = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 2))
    art = nnc.compile(model, ["x:float[3]=-1..1"], mode="exact")
    x = np.random.default_rng(n).uniform(-1, 1, (n, 3)).astype(np.float32)
    got = art(x)
    assert got.shape == (n, 2)
    if n:
        np.testing.assert_allclose(
            got, network_output(model, x), rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL
        )
        single = np.stack([art(row) for row in x])
        np.testing.assert_array_equal(got, single)  # tiles compute what one sample computes


def test_small_graphs_get_a_tile_and_large_ones_one_sample():
    assert tile_for(1024) > 1
    assert tile_for(8 << 20) == 1


def test_a_workspace_beyond_the_stack_limit_comes_from_malloc(tmp_path):
    width = 128
    model = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 1))
    spec = f"x:float[{STACK_WORKSPACE_BYTES // (8 * width) + 1}, {width}]=-1..1"
    # in double, one sample's buffers alone pass the stack limit
    art = nnc.compile(model, [spec], mode="exact", samples=64, precision="double")
    rows = STACK_WORKSPACE_BYTES // (8 * width) + 1
    x = np.random.default_rng(0).uniform(-1, 1, (3, rows, width)).astype(np.float32)
    np.testing.assert_allclose(
        art(x), network_output(model, x), rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL
    )
    library = nnc.load(art.save(tmp_path / "big.so"))
    np.testing.assert_allclose(library(x), art(x), rtol=0, atol=0)
