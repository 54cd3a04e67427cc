"""The IR's automaton: running it, renaming-invariant comparison, and its readable forms (the
regular expression is checked against the automaton on every string up to length 10)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from automata_zoo import (
    CONTAINS_101,
    DIVISIBLE_BY_3,
    PARITY,
    PARITY_DOUBLED,
    all_strings,
    dfa_decisions,
)
from nnc.automaton import INVALID, Automaton, render_png


def _automaton(dfa: tuple, alphabet: tuple[int, ...] = (0, 1)) -> Automaton:
    moves, accepting = dfa
    outputs = np.array([int(q in accepting) for q in range(len(moves))])
    return Automaton(np.asarray(moves), outputs, alphabet)


@pytest.mark.parametrize("dfa", [PARITY, DIVISIBLE_BY_3, CONTAINS_101])
def test_run_is_the_dfa(dfa: tuple) -> None:
    for length in range(9):
        strings = all_strings(length)
        np.testing.assert_array_equal(_automaton(dfa).run(strings), dfa_decisions(dfa, strings))


def test_tokens_are_alphabet_values_and_others_are_invalid() -> None:
    automaton = _automaton(PARITY, alphabet=(3, 7))
    assert automaton.run(np.array([[7, 3, 7, 7], [3, 3, 3, 3], [3, 5, 7, 7]])).tolist() == [
        1,
        0,
        INVALID,
    ]


def test_renamed_states_are_the_same_automaton() -> None:
    automaton = _automaton(DIVISIBLE_BY_3)
    renaming = np.array([0, 2, 1])  # swap states 1 and 2
    moves = np.empty_like(automaton.transitions)
    moves[renaming] = renaming[automaton.transitions]
    outputs = np.empty_like(automaton.outputs)
    outputs[renaming] = automaton.outputs
    assert automaton.same_as(Automaton(moves, outputs, (0, 1)))
    assert not automaton.same_as(_automaton(PARITY))


@pytest.mark.parametrize("dfa", [PARITY, DIVISIBLE_BY_3, CONTAINS_101])
def test_regular_expression_accepts_what_the_automaton_accepts(dfa: tuple) -> None:
    automaton = _automaton(dfa)
    pattern = re.compile(automaton.regex())
    for length in range(11):
        strings = all_strings(length)
        matched = [bool(pattern.fullmatch("".join(map(str, s)))) for s in strings]
        np.testing.assert_array_equal(np.array(matched, dtype=np.int64), automaton.run(strings))


def test_no_regular_expression_for_class_outputs() -> None:
    three_classes = Automaton(np.array([[1, 2], [2, 0], [0, 1]]), np.array([0, 1, 2]), (0, 1))
    assert three_classes.regex() is None


def test_printed_forms(tmp_path: Path) -> None:
    automaton = _automaton(DIVISIBLE_BY_3)
    table = automaton.table().splitlines()
    assert len(table) == 1 + automaton.states and table[1].startswith("→")
    dot = automaton.dot()
    assert dot.startswith("digraph") and dot.count("->") == 1 + 6  # the start arrow, 6 moves
    assert Automaton.from_json(automaton.to_json()).same_as(automaton)
    picture = render_png(dot, tmp_path / "a.png")
    if picture is not None:  # Graphviz installed
        assert picture.read_bytes()[:4] == b"\x89PNG"


def test_minimised_merges_states_no_string_tells_apart() -> None:
    doubled = _automaton(PARITY_DOUBLED)
    minimal = doubled.minimised()
    assert minimal.states == 2 and minimal.same_as(_automaton(PARITY))
    for length in range(9):
        strings = all_strings(length)
        np.testing.assert_array_equal(minimal.run(strings), doubled.run(strings))


def test_minimised_drops_unreachable_states() -> None:
    unreachable = Automaton(np.array([[0, 1], [1, 0], [2, 2]]), np.array([0, 1, 1]), (0, 1))
    assert unreachable.minimised().same_as(_automaton(PARITY))


def test_a_fresh_start_state_merges_when_its_decision_allows() -> None:
    """The empty string's decision is free: behind a fresh start that decides as state 0 does,
    minimising gives the automaton back; deciding otherwise keeps the extra state."""
    div3 = _automaton(DIVISIBLE_BY_3)
    assert div3.with_fresh_start(1).minimised().same_as(div3)
    assert div3.with_fresh_start(0).minimised().states == div3.states + 1
