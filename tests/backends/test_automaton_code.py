"""The automaton's native code: the fixed-length entry, whole strings of any length and the
streaming entry agree with the IR automaton (and so with the DFA), tokens outside the alphabet
answer -1, the tables use the narrowest types, and a C program using the header streams tokens."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from automata_zoo import CONTAINS_101, all_strings, dfa_decisions, kth_from_end
from nnc.automaton import INVALID, Automaton
from nnc.backends import get_backend
from nnc.backends.automaton import tables
from nnc.backends.calling import NativeFunction
from nnc.backends.header import render_header
from nnc.backends.interface import abi_json, make_abi
from nnc.backends.loader import load
from nnc.graph import Graph
from nnc.ops import Op
from nnc.spec_grammar import parse_inputs

LENGTH = 6
VERIFIED = {
    "exhaustive": {
        "lengths": [0, LENGTH],
        "strings": 127,
        "agreement": 127,
        "complete": True,
        "disagreements": 0,
    },
    "sampled": [],
}


def _automaton(dfa: tuple, alphabet: tuple[int, ...] = (0, 1)) -> Automaton:
    moves, accepting = dfa
    outputs = np.array([int(q in accepting) for q in range(len(moves))])
    return Automaton(np.asarray(moves), outputs, alphabet)


def _graph(automaton: Automaton, spec: str) -> tuple[Graph, list]:
    specs = parse_inputs([spec])
    graph = Graph()
    tokens = graph.add(Op.INPUT, attrs={"spec": "s"}, name="s", shape=(1, LENGTH), dtype="int64")
    attrs = {"automaton": automaton, "verified": VERIFIED, "shape": (1,), "dtype": "int64"}
    graph.outputs = [graph.add(Op.AUTOMATON, [tokens], attrs, name="automaton")]
    return graph, specs


def _jit(automaton: Automaton, spec: str = f"s:int[{LENGTH}]={{0,1}}") -> NativeFunction:
    graph, specs = _graph(automaton, spec)
    return get_backend().jit(graph, make_abi("nnc", graph, specs, {}), "raw")


def test_fixed_length_entry_runs_the_automaton() -> None:
    native = _jit(_automaton(CONTAINS_101))
    strings = all_strings(LENGTH)
    np.testing.assert_array_equal(native(strings).ravel(), dfa_decisions(CONTAINS_101, strings))


def test_strings_of_any_length_and_streaming_agree() -> None:
    automaton = _automaton(CONTAINS_101)
    native = _jit(automaton)
    rng = np.random.default_rng(0)
    for length in (0, 1, 7, 40):
        strings = rng.integers(0, 2, size=(16, length))
        expected = dfa_decisions(CONTAINS_101, strings)
        assert [native.automaton(s) for s in strings] == expected.tolist()
        for string, want in zip(strings, expected):
            state = native.automaton.start
            for token in string:
                state = native.automaton.step(state, int(token))
            assert native.automaton.decision(state) == want


def test_tokens_outside_the_alphabet_answer_minus_one() -> None:
    native = _jit(_automaton(CONTAINS_101, alphabet=(2, 5)), f"s:int[{LENGTH}]={{2,5}}")
    entries = native.automaton
    assert entries([5, 2, 5]) == 1 and entries([2, 2]) == 0
    assert entries([5, 3, 5]) == INVALID and entries([9]) == INVALID and entries([-4]) == INVALID
    assert entries.step(0, 3) == INVALID and entries.step(INVALID, 2) == INVALID
    assert entries.step(4, 2) == INVALID  # there are 4 states
    assert entries.decision(INVALID) == INVALID and entries.decision(17) == INVALID


def test_tables_use_the_narrowest_types() -> None:
    small = _automaton(CONTAINS_101)
    large = _automaton(kth_from_end(8))  # 256 states and a dead row: 16-bit entries
    for automaton, bits in ((small, 8), (large, 16)):
        moves, decisions, lowest = tables(automaton)
        assert moves.shape == (automaton.states + 1, 2) and lowest == 0
        assert decisions[-1] == INVALID
        graph, specs = _graph(automaton, f"s:int[{LENGTH}]={{0,1}}")
        text = get_backend().ir(graph, make_abi("m", graph, specs, {}))
        assert f"[{moves.size} x i{bits}]" in text


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_c_program_streams_tokens_through_the_header(tmp_path: Path) -> None:
    automaton = _automaton(CONTAINS_101)
    graph, specs = _graph(automaton, f"s:int[{LENGTH}]={{0,1}}")
    abi = make_abi("lang", graph, specs, {"abi": {}, "output": {"semantics": "raw"}})
    get_backend().write(graph, abi, tmp_path / "lang.so")
    (tmp_path / "lang.h").write_text(render_header(abi))
    (tmp_path / "main.c").write_text(
        '#include <stdio.h>\n#include "lang.h"\n'
        "int main(void) {\n"
        "  const int64_t text[] = {0, 1, 1, 0, 1, 0, 0};\n"
        "  int32_t s = LANG_START;\n"
        "  for (int i = 0; i < 7; i++) { s = lang_step(s, text[i]);"
        ' printf("%lld ", (long long)lang_decision(s)); }\n'
        '  printf("| %lld %lld %d\\n", (long long)lang_string(7, text),'
        " (long long)lang_string(-1, text), LANG_STATES);\n"
        "  return 0;\n}\n"
    )
    binary = tmp_path / "main"
    subprocess.run(
        [
            "cc",
            "-o",
            str(binary),
            str(tmp_path / "main.c"),
            str(tmp_path / "lang.so"),
            f"-Wl,-rpath,{tmp_path}",
        ],
        check=True,
    )
    output = subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout
    text = np.array([[0, 1, 1, 0, 1, 0, 0]])
    prefixes = [int(dfa_decisions(CONTAINS_101, text[:, :k])[0]) for k in range(1, 8)]
    assert output.split() == [*map(str, prefixes), "|", str(prefixes[-1]), "-1", "4"]


def test_loaded_library_exposes_the_automaton(tmp_path: Path) -> None:
    graph, specs = _graph(_automaton(CONTAINS_101), f"s:int[{LENGTH}]={{0,1}}")
    metadata = {"abi": abi_json(graph, specs), "output": {"semantics": "raw"}}
    abi = make_abi("lang", graph, specs, metadata)
    get_backend().write(graph, abi, tmp_path / "lang.so")
    library = load(tmp_path / "lang.so")
    assert library.automaton([1, 0, 1]) == 1 and library.automaton([1, 1]) == 0
    assert library(np.array([[1, 0, 1, 0, 0, 0]]))[0] == 1
    assert library.metadata["abi"]["automaton"]["states"] == 4
    assert "every string of length 0..6: 127/127 agree" in abi.automaton.verified
    declared = re.findall(r"^[a-z].*?\b(\w+)\(", render_header(abi), re.MULTILINE)
    assert {"lang_string", "lang_step", "lang_decision"} <= set(library.exports)
    assert sorted(library.exports) == sorted(declared)
