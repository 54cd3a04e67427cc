"""prune: planted dead and always-active units disappear with the outputs unchanged (on samples,
and on every point of a discrete domain); the error budget holds on held-out points; inputs the
output ignores are reported; the input graph is never touched."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import nnc
import numpy as np
import pytest
import torch
from helpers import FLOAT32_ATOL, FLOAT32_RTOL, assert_matches_model, pass_context
from hypothesis import given, settings
from hypothesis import strategies as st
from nnc.domain import Domain
from nnc.frontend import to_graph, trace
from nnc.graph import Graph
from nnc.interpret import interpret
from nnc.ops import Op
from nnc.options import Options
from nnc.passes.fold import fold
from nnc.passes.prune import prune
from nnc.spec import InputSpec
from nnc.spec_grammar import parse_inputs
from torch import nn

SPEC = "x:float[3]=[1..3, -1..2, 0..1]"


class ClampMin(nn.Module):
    """relu written as clamp(min=0): a maximum(x, 0) node."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(min=0)


RELU_FAMILY: list[Callable[[], nn.Module]] = [nn.ReLU, lambda: nn.LeakyReLU(0.1), ClampMin]
ACTIVATION_OPS = (Op.RELU, Op.WHERE, Op.MAXIMUM)


def _planted(
    widths: list[int],
    activation: Callable[[], nn.Module],
    dead: int,
    active: int,
    reach: float,
    seed: int,
) -> nn.Sequential:
    """An MLP whose hidden layers start with `dead` units whose bias is beyond what the inputs can
    reach (pre-activation <= -1 on the domain) and `active` units whose bias keeps it >= 1;
    `reach` bounds |input| on the domain."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for fan_in, fan_out in itertools.pairwise(widths):
        layers += [nn.Linear(fan_in, fan_out), activation()]
    layers.pop()
    with torch.no_grad():
        for linear in layers[:-1:2]:
            row_reach = linear.weight.abs().sum(1) * reach
            linear.bias[:dead] = -row_reach[:dead] - 1
            linear.bias[dead : dead + active] = row_reach[dead : dead + active] + 1
            reach = float((row_reach + linear.bias.abs()).max())
    return nn.Sequential(*layers).eval()


def _graph(model: nn.Module, specs: list[InputSpec]) -> Graph:
    return fold(to_graph(trace(model, specs), specs), pass_context())


def _outputs(graph: Graph, points: list[np.ndarray]) -> torch.Tensor:
    """The graph's output at every point (the batch-1 interpreter, vmapped), float64."""
    tensors = [torch.from_numpy(np.asarray(p)).unsqueeze(1) for p in points]
    run = torch.func.vmap(lambda *xs: interpret(graph, list(xs))[0])
    with torch.no_grad():
        return run(*tensors).double()


def _points(specs: list[InputSpec], n: int = 512, seed: int = 7) -> list[np.ndarray]:
    return Domain(specs).points(10**6, n, seed)[0]


def _widths(graph: Graph) -> list[int]:
    return [n.shape[-1] for n in graph.nodes() if n.op in ACTIVATION_OPS]


def _ops(graph: Graph) -> int:
    return sum(1 for n in graph.nodes() if n.op not in (Op.INPUT, Op.CONST))


def assert_same_outputs(pruned: Graph, graph: Graph, points: list[np.ndarray]) -> None:
    torch.testing.assert_close(
        _outputs(pruned, points), _outputs(graph, points), rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL
    )


# --- sound part -------------------------------------------------------------------------------


@settings(max_examples=6)  # each example traces a model (about 0.3 s)
@given(st.sampled_from(RELU_FAMILY), st.integers(0, 2**16))
def test_planted_dead_and_active_units_disappear(activation: Callable, seed: int) -> None:
    specs = parse_inputs([SPEC])
    graph = _graph(
        _planted([3, 16, 16, 1], activation, dead=4, active=3, reach=3.0, seed=seed), specs
    )
    ctx = pass_context(specs, mode="exact")
    pruned = prune(graph, ctx)
    assert _widths(pruned) and max(_widths(pruned)) <= 16 - 4 - 3
    assert pruned.parameter_count() < graph.parameter_count() - 2 * 4 * (3 + 1)
    assert ctx.counts["units removed (dead on the domain)"] + ctx.counts[
        "units folded (linear on the domain)"
    ] >= 2 * (4 + 3)
    assert_same_outputs(pruned, graph, _points(specs))


def test_outputs_agree_on_every_point_of_a_discrete_domain() -> None:
    specs = parse_inputs(["x:float[5]=[{0, 1}, {0, 1}, {-1, 0.5, 2}, {0, 3}, {1, 2, 3}]"])
    points, complete = Domain(specs).points(10**6, 1, 0)
    assert complete and len(points[0]) == 2 * 2 * 3 * 2 * 3
    graph = _graph(_planted([5, 12, 12, 2], nn.ReLU, dead=3, active=4, reach=3.0, seed=1), specs)
    pruned = prune(graph, pass_context(specs, mode="exact"))
    assert max(_widths(pruned)) <= 12 - 3 - 4
    assert_same_outputs(pruned, graph, points)


def test_an_always_active_layer_is_fused_with_the_next() -> None:
    specs = parse_inputs([SPEC])
    graph = _graph(_planted([3, 8, 2], nn.ReLU, dead=0, active=8, reach=3.0, seed=2), specs)
    ctx = pass_context(specs, mode="exact")
    pruned = prune(graph, ctx)
    assert [n.op for n in pruned.nodes() if n.op not in (Op.INPUT, Op.CONST)] == [Op.MATMUL, Op.ADD]
    assert pruned.parameter_count() == 3 * 2 + 2  # W1·W2 and b1·W2 + b2
    assert ctx.counts["layers fused"] == 1
    assert_same_outputs(pruned, graph, _points(specs))


def test_consecutive_linear_layers_are_fused() -> None:
    specs = parse_inputs([SPEC])
    graph = _graph(nn.Sequential(nn.Linear(3, 16), nn.Linear(16, 2)), specs)
    pruned = prune(graph, pass_context(specs, mode="exact"))
    assert pruned.parameter_count() == 3 * 2 + 2
    assert_same_outputs(pruned, graph, _points(specs))


def test_a_bottleneck_is_not_fused_when_that_adds_parameters() -> None:
    specs = parse_inputs(["x:float[16]=0..1"])
    graph = _graph(nn.Sequential(nn.Linear(16, 2), nn.Linear(2, 16)), specs)
    pruned = prune(graph, pass_context(specs, mode="exact"))
    assert pruned.fingerprint() == graph.fingerprint()


def test_units_are_pruned_along_the_last_axis_of_sequences() -> None:
    specs = parse_inputs(["x:float[4, 3]=0..2"])
    graph = _graph(_planted([3, 10, 2], nn.ReLU, dead=4, active=0, reach=2.0, seed=3), specs)
    pruned = prune(graph, pass_context(specs, mode="exact"))
    assert max(_widths(pruned)) <= 10 - 4
    assert_same_outputs(pruned, graph, _points(specs))


def test_saturating_activations_are_not_touched_by_the_sound_part() -> None:
    """tanh is never linear: planted 'dead' tanh units still shape the output."""
    specs = parse_inputs([SPEC])
    graph = _graph(_planted([3, 8, 1], nn.Tanh, dead=3, active=3, reach=3.0, seed=4), specs)
    pruned = prune(graph, pass_context(specs, mode="exact"))
    assert pruned.fingerprint() == graph.fingerprint()


def test_prune_leaves_its_input_untouched() -> None:
    specs = parse_inputs([SPEC])
    graph = _graph(_planted([3, 16, 16, 1], nn.ReLU, dead=4, active=3, reach=3.0, seed=5), specs)
    before, nodes = graph.fingerprint(), {n.name: n for n in graph.nodes()}
    for mode in ("exact", "auto"):
        prune(graph, pass_context(specs, mode=mode))
    assert graph.fingerprint() == before
    assert all(graph[name] is node for name, node in nodes.items())


def test_without_specs_nothing_is_claimed() -> None:
    specs = parse_inputs([SPEC])
    graph = _graph(_planted([3, 8, 1], nn.ReLU, dead=3, active=0, reach=3.0, seed=6), specs)
    ctx = pass_context(None, mode="exact")
    assert prune(graph, ctx) is graph and "skipped" in ctx.notes[0]


# --- unused inputs ------------------------------------------------------------------------------


def test_an_input_that_feeds_only_dead_units_is_reported() -> None:
    specs = parse_inputs([SPEC])
    model = _planted([3, 8, 1], nn.ReLU, dead=2, active=0, reach=3.0, seed=7)
    with torch.no_grad():
        model[0].weight[2:, 2] = 0.0  # x2 reaches units 0 and 1 only, which are dead
    ctx = pass_context(specs, mode="exact")
    prune(_graph(model, specs), ctx)
    assert ctx.counts["input elements unused"] == 1
    assert any(note.endswith("input elements: x2") for note in ctx.notes)


class IgnoresSecondInput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


def test_an_input_the_output_never_reads_is_reported() -> None:
    specs = parse_inputs(["x:float[2]=0..1", "y:float[2]=0..1"])
    ctx = pass_context(specs, mode="exact")
    prune(_graph(IgnoresSecondInput(), specs), ctx)
    assert ctx.counts["input elements unused"] == 1
    assert any(note.endswith("input elements: y") for note in ctx.notes)


def test_no_input_is_reported_when_all_are_used() -> None:
    specs = parse_inputs([SPEC])
    ctx = pass_context(specs, mode="exact")
    prune(_graph(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)), specs), ctx)
    assert "input elements unused" not in ctx.counts


# --- approximate part -------------------------------------------------------------------------


def _weak_units_model(seed: int) -> nn.Sequential:
    """A random MLP whose second hidden layer has 8 units with tiny outgoing weights."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(3, 24), nn.ReLU(), nn.Linear(24, 24), nn.ReLU(), nn.Linear(24, 1)
    )
    with torch.no_grad():
        model[4].weight[:, :8] *= 1e-4
    return model.eval()


@pytest.mark.parametrize("budget", [1e-3, 1e-2])
def test_the_budget_holds_on_held_out_points(budget: float) -> None:
    specs = parse_inputs(["x:float[3]=-1..1"])
    graph = _graph(_weak_units_model(8), specs)
    ctx = pass_context(specs, mode="auto", prune_budget=budget)
    pruned = prune(graph, ctx)
    assert ctx.counts["units removed (within budget)"] >= 8
    held_out = _points(specs, n=4096, seed=1234)
    expected = _outputs(graph, held_out)
    error = float((_outputs(pruned, held_out) - expected).abs().max())
    assert error <= budget * float(expected.abs().max())


def test_exact_mode_never_approximates() -> None:
    specs = parse_inputs(["x:float[3]=-1..1"])
    graph = _graph(_weak_units_model(8), specs)
    ctx = pass_context(specs, mode="exact", prune_budget=1e-2)
    pruned = prune(graph, ctx)
    assert "units removed (within budget)" not in ctx.counts
    assert_same_outputs(pruned, graph, _points(specs))


def test_an_input_of_negligible_influence_is_fixed_and_reported() -> None:
    specs = parse_inputs([SPEC])
    model = _planted([3, 8, 1], nn.Tanh, dead=0, active=0, reach=3.0, seed=10)
    with torch.no_grad():
        model[0].weight[:, 1] *= 1e-7
    ctx = pass_context(specs, mode="auto")
    pruned = prune(_graph(model, specs), ctx)
    assert ctx.counts["input elements fixed (within budget)"] >= 1
    assert any(note.endswith("input elements: x1") for note in ctx.notes)
    held_out = _points(specs, n=1024, seed=99)
    expected = _outputs(_graph(model, specs), held_out)
    assert float(
        (_outputs(pruned, held_out) - expected).abs().max()
    ) <= Options().prune_budget * float(expected.abs().max())


def test_units_never_active_on_the_calibration_data_are_removed() -> None:
    """On samples with x0 == x1, unit 0 (x0 - x1 - 0.5) is never active; the bounds of the
    samples' box, x in [0, 1]², cannot prove it, so only the approximate part removes it."""
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, -1.0], [1.0, -2.0], [-1.0, 0.5]]))
        model[0].bias.copy_(torch.tensor([-0.5, 0.2, 0.6]))
    line = torch.rand(256, 1).expand(256, 2).contiguous()
    specs = parse_inputs({"x": line})
    graph = _graph(model, specs)
    exact = prune(graph, pass_context(specs, mode="exact"))
    ctx = pass_context(specs, mode="auto")
    approximate = prune(graph, ctx)
    assert _widths(exact) == [3]
    assert ctx.counts["units removed (within budget)"] >= 1 and _widths(approximate)[0] <= 2
    assert_same_outputs(approximate, graph, [line.numpy()])


# --- end to end -------------------------------------------------------------------------------


def test_compiled_with_prune_matches_the_network() -> None:
    model = _planted([3, 32, 32, 1], nn.ReLU, dead=10, active=5, reach=3.0, seed=9)
    artifact = nnc.compile(model, [SPEC], mode="exact", passes=("fold", "prune"))
    record = next(r for r in artifact.report.passes if r.name == "prune")
    assert record.params[1] < record.params[0]
    assert_matches_model(artifact, model, [SPEC])
