"""The three regular languages of the example, over the tokens 0 and 1: what each string's label
is, and the language's minimal DFA (to check what nnc extracts against)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Language:
    name: str  # file names: <name>.pt2, <name>.so
    description: str
    transitions: tuple[tuple[int, int], ...]  # minimal DFA, start state 0
    accepting: frozenset[int]

    def labels(self, strings: np.ndarray) -> np.ndarray:
        """1 where the DFA accepts the string (n, length)."""
        moves = np.asarray(self.transitions)
        state = np.zeros(len(strings), dtype=np.int64)
        for position in range(strings.shape[1]):
            state = moves[state, strings[:, position]]
        return np.isin(state, list(self.accepting)).astype(np.int64)


LANGUAGES = [
    Language("parity", "an odd number of ones", ((0, 1), (1, 0)), frozenset({1})),
    Language(
        "div3",
        "binary numbers divisible by 3 (most significant bit first)",
        ((0, 1), (2, 0), (1, 2)),
        frozenset({0}),
    ),
    Language(
        "has1011",
        "contains the substring 1011",
        ((0, 1), (2, 1), (0, 3), (2, 4), (4, 4)),
        frozenset({4}),
    ),
]

BY_NAME: dict[str, Language] = {language.name: language for language in LANGUAGES}
Labeller = Callable[[np.ndarray], np.ndarray]
