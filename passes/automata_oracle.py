"""The re-rolled network as an oracle on token strings of any length: its cell and readout compiled
to native code and run in batches — every string up to a length level by level (each level one
call from the states of the level before), sampled strings grouped by length, single queries
from the longest prefix already computed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from nnc.graph import Graph
from nnc.reroll import Recurrence
from nnc.spec import InputSpec, Range, Values
from nnc.verification import CompileNative

__all__ = ["NetworkOracle", "level_strings"]

CACHED_VALUES = 1 << 23  # state values kept for single queries (64 MiB of doubles)


class NetworkOracle:
    """The network's decision after any string of symbols (indices into `alphabet`)."""

    def __init__(
        self, recurrence: Recurrence, compile_native: CompileNative, alphabet: Sequence[int]
    ) -> None:
        cell = recurrence.cell
        self.alphabet = np.asarray(alphabet, dtype=np.float64)
        self.initial = cell.initial.double().numpy().reshape(1, -1)
        self._cell = compile_native(cell.graph, _specs(cell.graph, alphabet), "raw")
        self._readout = compile_native(recurrence.readout, _specs(recurrence.readout, ()), "raw")
        self._levels: list[np.ndarray] = []  # decisions of every string of length k
        self._states: list[np.ndarray] = []  # states of every string of length k (while cached)
        self._memo: dict[tuple[int, ...], np.ndarray] = {}  # states of longer queried strings
        self.calls = 0  # strings the network was run on

    @property
    def symbols(self) -> int:
        return len(self.alphabet)

    def step(self, states: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        """The states after one more symbol each (n, S) × (n,) → (n, S)."""
        rows = np.concatenate([states, self.alphabet[symbols][:, None]], axis=1)
        self.calls += len(rows)
        return self._cell.run(rows)

    def decide(self, states: np.ndarray) -> np.ndarray:
        return np.rint(self._readout.run(states)[:, 0]).astype(np.int64)

    def levels(self, depth: int) -> list[np.ndarray]:
        """Decisions of every string of length 0 .. depth, each level in lexicographic order of
        the symbol indices (string i of level k has children i·A + a)."""
        if not self._levels:
            self._states = [self.initial]
            self._levels = [self.decide(self.initial)]
        while len(self._levels) <= depth:
            parents = self._states[-1]
            count = len(parents)
            children = self.step(
                np.repeat(parents, self.symbols, axis=0), np.tile(np.arange(self.symbols), count)
            )
            self._levels.append(self.decide(children))
            self._states.append(children)
            if sum(s.size for s in self._states) > CACHED_VALUES:
                self._states[-2] = np.empty((0, children.shape[1]))  # keep the last level
        return self._levels[: depth + 1]

    def decisions(self, strings: np.ndarray) -> np.ndarray:
        """Decisions on strings of one length (n, length) of symbol indices."""
        states = np.repeat(self.initial, len(strings), axis=0)
        for position in range(strings.shape[1]):
            states = self.step(states, strings[:, position])
        return self.decide(states)

    def query(self, word: tuple[int, ...]) -> int:
        """The decision after one string (a membership query)."""
        depth = len(word)
        if depth < len(self._levels):
            return int(self._levels[depth][_index(word, self.symbols)])
        return int(self.decide(self._state(word))[0])

    def _state(self, word: tuple[int, ...]) -> np.ndarray:
        if len(word) < len(self._states) and len(self._states[len(word)]):
            return self._states[len(word)][_index(word, self.symbols)][None]
        if word not in self._memo:
            before = self._state(word[:-1])
            self._memo[word] = self.step(before, np.array([word[-1]]))
        return self._memo[word]


def _index(word: tuple[int, ...], base: int) -> int:
    index = 0
    for symbol in word:
        index = index * base + symbol
    return index


def level_strings(depth: int, symbols: int) -> np.ndarray:
    """Every string of length `depth` in the order of `NetworkOracle.levels` (n, depth)."""
    if depth == 0:
        return np.zeros((1, 0), dtype=np.int64)
    grid = np.indices((symbols,) * depth).reshape(depth, -1).T
    return grid.astype(np.int64)


def _specs(graph: Graph, alphabet: Sequence[int]) -> list[InputSpec]:
    """Input specs for compiling the cell (state, token) or the readout (state)."""
    specs = []
    for name in graph.inputs:
        node = graph[name]
        domain = Values(tuple(float(a) for a in alphabet)) if name == "token" else Range(-1e9, 1e9)
        specs.append(InputSpec(name, node.dtype, node.shape[1:], domain=domain))
    return specs
