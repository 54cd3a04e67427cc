"""The reroll pass: an unrolled stock recurrent network compiles as one cell in a loop, exactly,
with less code than the unrolled graph; other models pass through with the reason noted."""

from __future__ import annotations

import nnc
import pytest
import torch
from automata_zoo import Recurrent
from helpers import assert_matches_model, pass_context
from nnc.backends import get_backend
from nnc.backends.interface import make_abi
from nnc.frontend import to_graph, trace
from nnc.graph import Graph
from nnc.ops import Op
from nnc.passes.reroll import reroll_pass
from nnc.spec_grammar import parse_inputs
from torch import nn

SPEC = "s:int[6]={0,1,2}"


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_rolled_network_matches_the_model(kind: str) -> None:
    model = Recurrent(kind).eval()
    artifact = nnc.compile(model, [SPEC], mode="exact")
    assert any(n.op is Op.SCAN for n in artifact.graph.nodes())
    assert artifact.report.fidelity.passed
    assert_matches_model(artifact, model, [SPEC])


def test_rolled_code_is_smaller_than_unrolled() -> None:
    """One cell in a loop instead of six copies of it: less LLVM IR to optimise and link."""
    specs = parse_inputs([SPEC])
    unrolled = to_graph(trace(Recurrent("GRU").eval(), specs), specs)
    rolled = reroll_pass(unrolled, pass_context(specs))

    def llvm_ir(graph: Graph) -> str:
        return get_backend().ir(graph, make_abi("m", graph, specs, {}))

    assert len(llvm_ir(rolled)) < len(llvm_ir(unrolled)) / 2


def test_pass_notes_why_it_kept_the_graph() -> None:
    class Mean(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(2, 4)
            self.rnn = nn.GRU(4, 6, batch_first=True)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            return self.rnn(self.embedding(tokens))[0].mean(dim=1)

    specs = parse_inputs(["s:int[5]={0,1}"])
    graph = to_graph(trace(Mean().eval(), specs), specs)
    ctx = pass_context(specs)
    assert reroll_pass(graph, ctx) is graph
    assert any("kept unrolled" in note and "mean" in note for note in ctx.notes)


def test_pass_skips_models_that_do_not_repeat() -> None:
    specs = parse_inputs(["x:float[6]=0..1"])
    graph = to_graph(trace(nn.Sequential(nn.Linear(6, 3)).eval(), specs), specs)
    ctx = pass_context(specs)
    assert reroll_pass(graph, ctx) is graph
    assert ctx.notes and "no operation repeats once per position" in ctx.notes[0]
