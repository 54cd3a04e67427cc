"""Re-rolling: the cell recovered from an unrolled stock nn.RNN/GRU/LSTM computes what the torch
module computes on strings of every length — the traced one, shorter and longer ones — and graphs
that are not one cell per token are refused with the reason."""

from __future__ import annotations

import pytest
import torch
from automata_zoo import Recurrent
from helpers import FLOAT32_ATOL, FLOAT32_RTOL
from nnc.frontend import to_graph, trace
from nnc.graph import Graph
from nnc.interpret import interpret
from nnc.ops import Op
from nnc.reroll import NotARecurrence, Recurrence, reroll, token_domains
from nnc.sinking import sink_position_slices
from nnc.spec_grammar import parse_inputs
from torch import nn

# a re-rolled cell runs the same float32 ops in the same order; a long string adds their rounding
LONG_STRING_RTOL = 1e-4


def _traced(model: nn.Module, spec: str) -> tuple[Graph, list]:
    specs = parse_inputs([spec])
    return to_graph(trace(model.eval(), specs), specs), specs


def _rerolled(model: nn.Module, spec: str) -> Recurrence:
    graph, specs = _traced(model, spec)
    return reroll(graph, token_domains(specs[0]))


@pytest.mark.parametrize(
    ("kind", "layers"), [("RNN", 1), ("GRU", 1), ("LSTM", 1), ("GRU", 2), ("LSTM", 2)]
)
def test_cell_computes_what_the_module_computes_at_every_length(kind: str, layers: int) -> None:
    model = Recurrent(kind, layers=layers).eval()
    recurrence = _rerolled(model, "s:int[6]={0,1,2}")
    generator = torch.Generator().manual_seed(3)
    for length in (1, 3, 6, 11):
        tokens = torch.randint(0, 3, (length,), generator=generator)
        with torch.no_grad():
            expected = model(tokens[None])
        torch.testing.assert_close(
            recurrence.run(tokens), expected, rtol=LONG_STRING_RTOL, atol=FLOAT32_ATOL
        )


def test_state_is_what_the_module_carries() -> None:
    """An LSTM's state is (h, c): 2 × hidden values, starting at zero."""
    recurrence = _rerolled(Recurrent("LSTM", hidden=5), "s:int[5]={0,1,2}")
    assert recurrence.cell.state_size == 10
    assert torch.equal(recurrence.cell.initial, torch.zeros(1, 10))
    assert recurrence.length == 5


class LearnedStart(nn.Module):
    """A GRU started from a learned state, as users write it."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(2, 4)
        self.rnn = nn.GRU(4, 6, batch_first=True)
        self.start = nn.Parameter(torch.randn(1, 1, 6))
        self.head = nn.Linear(6, 2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embedding(tokens), self.start.expand(1, len(tokens), 6))
        return self.head(out[:, -1])


def test_learned_start_state_is_found() -> None:
    model = LearnedStart().eval()
    recurrence = _rerolled(model, "s:int[5]={0,1}")
    for tokens in ([1, 0, 1], [0, 0, 1, 1, 0, 1, 1]):
        with torch.no_grad():
            expected = model(torch.tensor([tokens]))
        torch.testing.assert_close(
            recurrence.run(torch.tensor(tokens)), expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL
        )


class MeanOfOutputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(2, 4)
        self.rnn = nn.GRU(4, 6, batch_first=True)
        self.head = nn.Linear(6, 2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embedding(tokens))
        return self.head(out.mean(dim=1))


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(2, 8)
        self.layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.layer(self.embedding(tokens))[:, -1])


class Bidirectional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(2, 4)
        self.rnn = nn.GRU(4, 3, batch_first=True, bidirectional=True)
        self.head = nn.Linear(6, 2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embedding(tokens))
        return self.head(out[:, -1])


@pytest.mark.parametrize(
    ("model", "spec", "reason"),
    [
        (MeanOfOutputs(), "s:int[5]={0,1}", "reads earlier steps. values directly"),
        (Attention(), "s:int[5]={0,1}", "other than one position at a time"),
        (Bidirectional(), "s:int[5]={0,1}", "step"),
        (Recurrent("GRU"), "s:int[3]={0,1}", "not a sequence of at least 4 tokens"),
    ],
)
def test_what_is_not_one_cell_per_token_is_refused(
    model: nn.Module, spec: str, reason: str
) -> None:
    with pytest.raises(NotARecurrence, match=reason):
        _rerolled(model, spec)


def test_sinking_keeps_the_outputs_and_gives_each_step_its_token() -> None:
    graph, specs = _traced(Recurrent("LSTM", layers=2), "s:int[5]={0,1,2}")
    sunk = sink_position_slices(graph, token_domains(specs[0]))
    tokens = torch.tensor([[2, 0, 1, 1, 0]])
    torch.testing.assert_close(interpret(sunk, [tokens]), interpret(graph, [tokens]))
    reads = [sunk[user] for user in sunk.users(sunk.inputs[0])]
    assert sorted(n.attrs["start"] for n in reads) == list(range(5))
    assert all(n.op is Op.SLICE and n.attrs["end"] == n.attrs["start"] + 1 for n in reads)


def test_a_wide_integer_range_is_spaced_not_listed() -> None:
    """Regression: `t:int32[2]=0..2147483647` listed 2^31 token values (MemoryError in the pass)."""
    (spec,) = parse_inputs(["t:int32[2]=0..2147483647"])
    domains = token_domains(spec)
    assert len(domains) == 2
    for values in domains:
        assert values[0] == 0 and values[-1] == 2147483647
        assert len(values) <= 17 and values == sorted(set(values))
    (narrow,) = parse_inputs(["t:int64[3]=0..9"])
    assert token_domains(narrow) == [list(range(10))] * 3
