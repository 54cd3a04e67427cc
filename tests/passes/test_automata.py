"""The automata pass end to end: stock nn.RNNs with planted DFAs compile to the minimal automaton,
which agrees with the DFA itself on strings of every length (C and Python entries); the size rule
keeps the network when the behaviour needs many states or keeps growing with the length checked,
and says why."""

from __future__ import annotations

from pathlib import Path

import nnc
import numpy as np
import pytest
import torch
from automata_zoo import (
    CONTAINS_101,
    DIVISIBLE_BY_3,
    PARITY,
    PARITY_DOUBLED,
    PlantedDFA,
    Recurrent,
    all_strings,
    bounded_dyck,
    dfa_decisions,
    kth_from_end,
    train_on_language,
)
from nnc.automaton import Automaton
from nnc.ops import Op

PASSES = "fold,reroll,automata"


def _compile(model: torch.nn.Module, length: int, **options: object) -> nnc.Artifact:
    return nnc.compile(
        model, [f"s:int[{length}]={{0,1}}"], output="argmax", passes=PASSES, **options
    )


def _automaton_notes(artifact: nnc.Artifact) -> list[str]:
    (record,) = [r for r in artifact.report.passes if r.name == "automata"]
    return record.notes


def _dfa(dfa: tuple) -> Automaton:
    moves, accepting = dfa
    outputs = np.array([int(q in accepting) for q in range(len(moves))])
    return Automaton(np.asarray(moves), outputs, (0, 1))


@pytest.mark.parametrize(
    ("dfa", "minimal"),
    [
        (PARITY, PARITY),
        (DIVISIBLE_BY_3, DIVISIBLE_BY_3),
        (CONTAINS_101, CONTAINS_101),
        (PARITY_DOUBLED, PARITY),  # four states that are two
    ],
)
def test_planted_automaton_is_extracted_minimal(dfa: tuple, minimal: tuple) -> None:
    artifact = _compile(PlantedDFA(dfa).eval(), 10)
    (node,) = [n for n in artifact.graph.nodes() if n.op is Op.AUTOMATON]
    assert node.attrs["automaton"].same_as(_dfa(minimal))
    strings = all_strings(10)
    np.testing.assert_array_equal(artifact(strings), dfa_decisions(dfa, strings))
    rng = np.random.default_rng(1)
    longer = rng.integers(0, 2, size=(32, 37))  # beyond the traced length: the DFA is the truth
    truth = dfa_decisions(dfa, longer)
    assert [artifact.automaton(s) for s in longer] == truth.tolist()
    state = artifact.automaton.start
    for token in longer[0]:
        state = artifact.automaton.step(state, int(token))
    assert artifact.automaton.decision(state) == truth[0]


def test_report_and_library_say_what_was_verified(tmp_path: Path) -> None:
    artifact = _compile(PlantedDFA(DIVISIBLE_BY_3).eval(), 10)
    notes = _automaton_notes(artifact)
    assert any(
        "every string of length 1..10: agrees with the network on 2046/2046" in n for n in notes
    )
    assert any("of length 11..20" in n for n in notes)
    header = artifact.save(tmp_path / "div3.so").with_suffix(".h").read_text()
    assert "every string of length 1..10: 2046/2046 agree" in header
    library = nnc.load(tmp_path / "div3.so")
    assert library.automaton([1, 1, 0]) == 1 and library.automaton([1, 0, 0]) == 0
    markdown = artifact.report.write(tmp_path / "report.md").read_text()
    assert "## Finite automaton" in markdown and "digraph automaton" in markdown
    page = artifact.report.write(tmp_path / "report.html").read_text()
    assert "Finite automaton (automata)" in page and "2046/2046" in page


def test_labels_count_wrong_decisions() -> None:
    """Labelled with another language, the parity network and its automaton are wrong on the
    strings where the two languages differ."""
    strings = all_strings(10)
    artifact = _compile(
        PlantedDFA(PARITY).eval(), 10, labels=(strings, dfa_decisions(DIVISIBLE_BY_3, strings))
    )
    differ = int((dfa_decisions(PARITY, strings) != dfa_decisions(DIVISIBLE_BY_3, strings)).sum())
    truth = artifact.report.truth
    assert truth["points"] == len(strings)
    assert truth["network_wrong"] == truth["artifact_wrong"] == differ > 0
    assert f"labels the network decides {differ:,} wrong" in artifact.report.text()


def test_behaviour_that_keeps_growing_keeps_the_network() -> None:
    """A counter (balanced brackets, nested up to 20): on strings up to 14 it needs more states
    than on strings up to 7 — no sign of a regular behaviour."""
    artifact = _compile(PlantedDFA(bounded_dyck(20)).eval(), 14)
    assert not any(n.op is Op.AUTOMATON for n in artifact.graph.nodes())
    assert any(
        "kept the network: it grows with the length checked" in n
        for n in _automaton_notes(artifact)
    )


def test_behaviour_needing_many_states_keeps_the_network() -> None:
    artifact = _compile(PlantedDFA(kth_from_end(7)).eval(), 10)
    assert not any(n.op is Op.AUTOMATON for n in artifact.graph.nodes())
    assert any("need more than 64 states" in n for n in _automaton_notes(artifact))


def test_raw_outputs_are_not_decisions() -> None:
    artifact = nnc.compile(Recurrent("GRU").eval(), ["s:int[5]={0,1,2}"], passes=PASSES)
    assert any(n.startswith("skipped") for n in _automaton_notes(artifact))


def _balanced(strings: np.ndarray) -> np.ndarray:
    depth = np.cumsum(np.where(strings == 0, 1, -1), axis=1)
    return ((depth.min(axis=1) >= 0) & (depth[:, -1] == 0)).astype(np.int64)


@pytest.mark.slow
def test_network_trained_on_a_non_regular_language_is_kept() -> None:
    """Balanced brackets are not regular: a GRU trained on them up to length 16 keeps its network,
    and the pass says which part of the size rule it failed."""
    model = train_on_language(Recurrent("GRU", tokens=2), _balanced, [2, 4, 8, 12, 16], 600)
    artifact = _compile(model, 16)
    assert not any(n.op is Op.AUTOMATON for n in artifact.graph.nodes())
    assert any(n.startswith("kept the network:") for n in _automaton_notes(artifact))
