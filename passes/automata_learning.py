"""Learning the automaton with AALpy: Angluin's L* (Moore machines, Rivest–Schapire counterexample
processing) with the network as the membership oracle and, as the equivalence oracle, every string
up to a length — checked level by level against the network's decisions, shortest disagreement
first. Hypotheses grow one state at a time, so the first that agrees with the network as the Gate
asks of a program is the smallest L* offers (as synth keeps the smallest program); a network that
learned its language but for a few strings gets the language's automaton, its few disagreements
listed. A hypothesis larger than the state budget ends the learning: the network's behaviour on
those strings needs more states than the size rule allows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from aalpy.base import SUL, Oracle
from aalpy.learning_algs import run_Lstar
from nnc.automaton import Automaton

from .automata_oracle import NetworkOracle

__all__ = [
    "ExhaustiveOracle",
    "NetworkSUL",
    "TooManyStates",
    "learn",
    "level_decisions",
    "to_automaton",
]


class TooManyStates(Exception):
    """A hypothesis outgrew the state budget (carries its size)."""

    def __init__(self, states: int) -> None:
        super().__init__(f"{states} states")
        self.states = states


def learn(oracle: NetworkOracle, depth: int, max_states: int, agreement: float = 1.0) -> Automaton:
    """The first (smallest) automaton L* learns from the network that agrees with it on at least
    `agreement` of the non-empty strings of length ≤ depth (as the Gate asks of a program);
    TooManyStates when a hypothesis grows past `max_states` first."""
    sul = NetworkSUL(oracle)
    equivalence = ExhaustiveOracle(sul, depth, max_states, agreement)
    symbols = list(range(oracle.symbols))
    learned = run_Lstar(symbols, sul, equivalence, automaton_type="moore", print_level=0)
    return _smallest(to_automaton(learned, oracle.alphabet))


def _smallest(learned: Automaton) -> Automaton:
    """Minimised, with the empty string's decision free: the network never decides the empty
    string (a recurrent layer reads at least one token), so a fresh start state, never entered
    again, takes the decision that lets it merge with another state, if one does."""
    candidates = [learned.with_fresh_start(int(d)).minimised() for d in set(learned.outputs)]
    return min(candidates, key=lambda a: (a.states, a.outputs[0] != learned.outputs[0]))


def to_automaton(moore: Any, alphabet: np.ndarray) -> Automaton:
    """An AALpy Moore machine as arrays (start state 0, breadth-first numbering)."""
    number = {id(moore.initial_state): 0}
    order = [moore.initial_state]
    for state in order:
        for symbol in range(len(alphabet)):
            target = state.transitions[symbol]
            if id(target) not in number:
                number[id(target)] = len(order)
                order.append(target)
    transitions = np.array(
        [[number[id(s.transitions[a])] for a in range(len(alphabet))] for s in order]
    )
    outputs = np.array([int(s.output) for s in order])
    return Automaton(transitions, outputs, tuple(int(a) for a in alphabet))


def level_decisions(automaton: Automaton, depth: int) -> list[np.ndarray]:
    """The automaton's decision on every string of length 0 .. depth, in the oracle's order."""
    states = np.zeros(1, dtype=np.int64)
    out = [automaton.outputs[states]]
    for _ in range(depth):
        symbols = np.tile(np.arange(automaton.symbols), len(states))
        states = automaton.transitions[np.repeat(states, automaton.symbols), symbols]
        out.append(automaton.outputs[states])
    return out


class NetworkSUL(SUL):
    """The network as AALpy's system under learning: each step answers the decision after the
    word so far (the empty word's when the step is None)."""

    def __init__(self, oracle: NetworkOracle) -> None:
        super().__init__()
        self.oracle = oracle
        self.word: tuple[int, ...] = ()

    def pre(self) -> None:
        self.word = ()

    def post(self) -> None:
        pass

    def step(self, letter: int | None) -> int:
        if letter is not None:
            self.word += (letter,)
        return self.oracle.query(self.word)


class ExhaustiveOracle(Oracle):
    """AALpy equivalence oracle: the hypothesis against the network on every non-empty string of
    length ≤ depth. It is accepted when it agrees on `agreement` of them; otherwise the first
    disagreement (shortest, then lexicographic) is the counterexample."""

    def __init__(self, sul: NetworkSUL, depth: int, max_states: int, agreement: float) -> None:
        super().__init__(list(range(sul.oracle.symbols)), sul)
        self.network = sul.oracle.levels(depth)[1:]
        self.alphabet = sul.oracle.alphabet
        self.max_states = max_states
        strings = sum(len(level) for level in self.network)
        self.allowed = strings - math.ceil(agreement * strings)  # disagreements it may keep

    def find_cex(self, hypothesis: Any) -> tuple[int, ...] | None:
        if hypothesis.size > self.max_states:
            raise TooManyStates(hypothesis.size)
        automaton = to_automaton(hypothesis, self.alphabet)
        levels = level_decisions(automaton, len(self.network))[1:]
        wrong = [np.flatnonzero(mine != theirs) for mine, theirs in zip(levels, self.network)]
        if sum(len(w) for w in wrong) <= self.allowed:
            return None
        length = next(k for k, w in enumerate(wrong) if len(w))
        return _word(int(wrong[length][0]), length + 1, automaton.symbols)


def _word(index: int, length: int, base: int) -> tuple[int, ...]:
    digits = []
    for _ in range(length):
        index, digit = divmod(index, base)
        digits.append(digit)
    return tuple(reversed(digits))
