"""Sequence networks for the re-rolling and automata tests: stock nn.RNN/GRU/LSTM models, and
planted automata — a stock nn.RNN whose weights run a given DFA exactly (Omlin & Giles' second
order construction, flattened to one hidden unit per (state, symbol) pair)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
from nnc.reroll import one_thread
from torch import nn

# DFAs as (transitions[state][symbol], accepting states), start state 0
PARITY = ([[0, 1], [1, 0]], {1})  # an odd number of ones
DIVISIBLE_BY_3 = ([[0, 1], [2, 0], [1, 2]], {0})  # binary numbers, most significant bit first
CONTAINS_101 = ([[0, 1], [2, 1], [0, 3], [3, 3]], {3})
PARITY_DOUBLED = ([[2, 1], [3, 0], [0, 3], [1, 2]], {1, 3})  # parity with every state twice


def bounded_dyck(depth: int) -> tuple[list[list[int]], set[int]]:
    """Balanced strings of '(' (0) and ')' (1) nested at most `depth` deep: a counter with a dead
    state, as a DFA of depth + 2 states."""
    dead = depth + 1
    moves = [
        [min(d + 1, dead) if d < depth else dead, d - 1 if d > 0 else dead]
        for d in range(depth + 1)
    ]
    return [*moves, [dead, dead]], {0}


def kth_from_end(k: int) -> tuple[list[list[int]], set[int]]:
    """The k-th symbol from the end is 1: the last k symbols are the state (2^k states)."""
    states = 2**k
    moves = [[(q << 1) % states, ((q << 1) | 1) % states] for q in range(states)]
    return moves, {q for q in range(states) if q >> (k - 1) & 1}


def dfa_decisions(dfa: tuple[Sequence[Sequence[int]], set[int]], strings: np.ndarray) -> np.ndarray:
    """What the DFA decides on each string (n, length)."""
    moves, accepting = np.asarray(dfa[0]), dfa[1]
    state = np.zeros(len(strings), dtype=np.int64)
    for position in range(strings.shape[1]):
        state = moves[state, strings[:, position]]
    return np.isin(state, list(accepting)).astype(np.int64)


def all_strings(length: int, symbols: int = 2) -> np.ndarray:
    return np.array(list(itertools.product(range(symbols), repeat=length)), dtype=np.int64)


class PlantedDFA(nn.Module):
    """A stock nn.RNN (tanh) that runs a DFA: hidden unit (r, a) is on when the state before the
    current token was r and the token is a; one more unit is off only before the first token (it
    stands for the start state). Argmax of the two logits is the DFA's decision."""

    def __init__(self, dfa: tuple[Sequence[Sequence[int]], set[int]], gain: float = 20.0) -> None:
        super().__init__()
        moves, accepting = np.asarray(dfa[0]), dfa[1]
        states, symbols = moves.shape
        hidden = states * symbols + 1
        started = hidden - 1
        self.embedding = nn.Embedding(symbols, symbols)
        self.rnn = nn.RNN(symbols, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 2)
        w, u, b = torch.zeros(hidden, hidden), torch.zeros(hidden, symbols), torch.zeros(hidden)
        for r in range(states):
            before = [(q, a) for q in range(states) for a in range(symbols) if moves[q, a] == r]
            for a in range(symbols):
                unit = r * symbols + a
                for q, a2 in before:  # the state before was r: one of its pairs was on
                    w[unit, q * symbols + a2] = gain / 2
                w[unit, started] = gain * (len(before) / 2 - (r == 0))
                u[unit, a] = gain
                b[unit] = -1.5 * gain + gain * (r == 0)
        b[started] = gain
        head = torch.zeros(2, hidden)
        lands = [(q, a) for q in range(states) for a in range(symbols) if moves[q, a] in accepting]
        for q, a in lands:
            head[1, q * symbols + a] = 2.0
        head[1, started] = 2.0 * len(lands) - 4.0 * (0 in accepting)
        with torch.no_grad():
            self.embedding.weight.copy_(torch.eye(symbols))
            self.rnn.weight_hh_l0.copy_(w)
            self.rnn.weight_ih_l0.copy_(u)
            self.rnn.bias_ih_l0.copy_(b)
            self.rnn.bias_hh_l0.zero_()
            self.head.weight.copy_(head)
            self.head.bias.copy_(torch.tensor([0.0, 4.0 * (0 in accepting) - 2.0]))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embedding(tokens))
        return self.head(out[:, -1])


class Recurrent(nn.Module):
    """Embedding → a stock recurrent layer → a linear head on the last output."""

    def __init__(
        self, kind: str, tokens: int = 3, width: int = 8, hidden: int = 16, layers: int = 1
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(tokens, width)
        self.rnn = getattr(nn, kind)(width, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, 2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embedding(tokens))
        return self.head(out[:, -1])


def train_on_language(
    model: nn.Module,
    label: object,
    lengths: Sequence[int],
    steps: int,
    symbols: int = 2,
    seed: int = 0,
) -> nn.Module:
    """Train `model` to decide `label(strings) -> 0/1` on random strings, one length per batch
    (on one thread: small batches only pay for synchronising a second one)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    with one_thread():
        for step in range(steps):
            length = int(lengths[step % len(lengths)])
            strings = rng.integers(0, symbols, size=(64, length))
            target = torch.from_numpy(label(strings))
            loss = nn.functional.cross_entropy(model(torch.from_numpy(strings)), target)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model.eval()
