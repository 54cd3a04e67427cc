"""Automata in the IR: a deterministic finite automaton with a decision in every state (a Moore
machine), which an AUTOMATON node runs over its token input. Start state 0; a token outside the
alphabet sends the run to a dead end whose decision is -1.

    %decision : i64[1] = automaton(%s)  ⟨automaton<3 states, 2 symbols>⟩

Also here: the readable forms — the transition table as text, Graphviz DOT, a regular expression
of the accepted strings when the decisions are 0/1 and it is short (automata-lib's state
elimination), and a picture when Graphviz's `dot` is installed.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["INVALID", "MAX_REGEX", "Automaton", "render_dot", "render_png"]

INVALID = -1  # the decision of a string with a token outside the alphabet
MAX_REGEX = 80  # characters; a longer regular expression is not printed


@dataclass(frozen=True, eq=False)
class Automaton:
    """`transitions[q, a]`: the state after reading symbol a (the token `alphabet[a]`) in state q;
    `outputs[q]`: the decision after a string that ends in q. Start state 0."""

    transitions: np.ndarray  # (states, symbols) int
    outputs: np.ndarray  # (states,) int
    alphabet: tuple[int, ...]  # the token value of each symbol, ascending

    @property
    def states(self) -> int:
        return len(self.outputs)

    @property
    def symbols(self) -> int:
        return len(self.alphabet)

    def columns(self, tokens: np.ndarray) -> np.ndarray:
        """Symbol index of each token, -1 where the token is not in the alphabet."""
        values = np.asarray(self.alphabet)
        where = np.clip(np.searchsorted(values, tokens), 0, len(values) - 1)
        return np.where(values[where] == tokens, where, -1)

    def final_states(self, strings: np.ndarray) -> np.ndarray:
        """The state after each string (n, length); -1 after a token outside the alphabet."""
        columns = self.columns(np.asarray(strings, dtype=np.int64))
        state = np.zeros(len(columns), dtype=np.int64)
        for position in range(columns.shape[1]):
            symbol = columns[:, position]
            valid = (state >= 0) & (symbol >= 0)
            state = np.where(valid, self.transitions[np.maximum(state, 0), symbol], -1)
        return state

    def run(self, strings: np.ndarray) -> np.ndarray:
        """The decision on each string (n, length); INVALID for a token outside the alphabet."""
        state = self.final_states(strings)
        return np.where(state >= 0, self.outputs[np.maximum(state, 0)], INVALID)

    def canonical(self) -> Automaton:
        """The reachable states renumbered in breadth-first order from the start, symbols in
        order: equal automata up to renaming become equal arrays."""
        order, seen = [0], {0: 0}
        for q in order:
            for r in self.transitions[q]:
                if int(r) not in seen:
                    seen[int(r)] = len(order)
                    order.append(int(r))
        transitions = np.array([[seen[int(r)] for r in self.transitions[q]] for q in order])
        outputs = np.array([int(self.outputs[q]) for q in order])
        return Automaton(transitions.reshape(len(order), self.symbols), outputs, self.alphabet)

    def minimised(self) -> Automaton:
        """The reachable states, merged where no string tells them apart: Moore's partition
        refinement (split blocks by decision, then by the blocks each symbol leads to)."""
        reachable = self.canonical()
        block = [int(v) for v in reachable.outputs]
        while True:
            signatures = [
                (block[q], *(block[r] for r in reachable.transitions[q]))
                for q in range(reachable.states)
            ]
            numbering = {sig: i for i, sig in enumerate(dict.fromkeys(signatures))}
            refined = [numbering[sig] for sig in signatures]
            if len(numbering) == len(set(block)):
                break
            block = refined
        first = {b: q for q, b in reversed(list(enumerate(refined)))}
        transitions = [[refined[r] for r in reachable.transitions[first[b]]] for b in sorted(first)]
        outputs = [int(reachable.outputs[first[b]]) for b in sorted(first)]
        return Automaton(
            np.array(transitions).reshape(len(first), self.symbols),
            np.array(outputs),
            self.alphabet,
        ).canonical()

    def with_fresh_start(self, decision: int) -> Automaton:
        """The same automaton behind a new start state that nothing re-enters, deciding
        `decision` on the empty string (the other states keep theirs)."""
        transitions = np.vstack([self.transitions[:1], self.transitions]) + 1
        transitions[0] = self.transitions[0] + 1
        outputs = np.concatenate([[decision], self.outputs])
        return Automaton(transitions, outputs, self.alphabet)

    def same_as(self, other: Automaton) -> bool:
        """Equal up to renaming of the states (both minimal)."""
        a, b = self.canonical(), other.canonical()
        return (
            a.alphabet == b.alphabet
            and a.transitions.shape == b.transitions.shape
            and bool((a.transitions == b.transitions).all() and (a.outputs == b.outputs).all())
        )

    def table(self) -> str:
        """The states and transitions as text, one state per line."""
        header = "state  decision  " + "  ".join(f"on {a}" for a in self.alphabet)
        lines = [header]
        for q in range(self.states):
            start = "→" if q == 0 else " "
            moves = "  ".join(
                f"{int(r):>{len(str(a)) + 3}}" for r, a in zip(self.transitions[q], self.alphabet)
            )
            lines.append(f"{start}{q:>4}  {int(self.outputs[q]):>8}  {moves}")
        return "\n".join(lines)

    def dot(self) -> str:
        """Graphviz DOT: states labelled with their decision, accepting (1) ones doubled."""
        lines = [
            "digraph automaton {",
            "  rankdir=LR;",
            '  start [shape=point, label=""];',
        ]
        for q in range(self.states):
            shape = "doublecircle" if self.outputs[q] == 1 else "circle"
            lines.append(f'  q{q} [shape={shape}, label="{q}\\n→ {int(self.outputs[q])}"];')
        lines.append("  start -> q0;")
        edges: dict[tuple[int, int], list[str]] = {}
        for q in range(self.states):
            for a, r in zip(self.alphabet, self.transitions[q]):
                edges.setdefault((q, int(r)), []).append(str(a))
        for (q, r), labels in edges.items():
            lines.append(f'  q{q} -> q{r} [label="{",".join(labels)}"];')
        lines.append("}")
        return "\n".join(lines)

    def regex(self) -> str | None:
        """A regular expression of the strings decided 1, when the decisions are 0/1, the
        symbols print as one character each and the expression is short; else None."""
        decisions = {int(v) for v in self.outputs}
        if not decisions <= {0, 1} or any(len(str(a)) != 1 for a in self.alphabet):
            return None
        if decisions == {0}:
            return "∅"
        from automata.fa.dfa import DFA
        from automata.fa.gnfa import GNFA

        dfa = DFA(
            states=set(range(self.states)),
            input_symbols={str(a) for a in self.alphabet},
            transitions={
                q: {str(a): int(r) for a, r in zip(self.alphabet, self.transitions[q])}
                for q in range(self.states)
            },
            initial_state=0,
            final_states={q for q in range(self.states) if self.outputs[q] == 1},
        )
        text = GNFA.from_dfa(dfa).to_regex()
        return text if len(text) <= MAX_REGEX else None

    def to_json(self) -> dict:
        return {
            "states": self.states,
            "alphabet": list(self.alphabet),
            "transitions": self.transitions.tolist(),
            "outputs": self.outputs.tolist(),
            "start": 0,
        }

    @classmethod
    def from_json(cls, data: dict) -> Automaton:
        return cls(
            np.asarray(data["transitions"], dtype=np.int64).reshape(data["states"], -1),
            np.asarray(data["outputs"], dtype=np.int64),
            tuple(data["alphabet"]),
        )

    def __repr__(self) -> str:
        digest = hashlib.sha256(self.transitions.astype(np.int64).tobytes())
        digest.update(self.outputs.astype(np.int64).tobytes())
        digest.update(repr(self.alphabet).encode())
        return f"automaton<{self.states} states, {self.symbols} symbols, #{digest.hexdigest()[:8]}>"


def render_dot(dot: str, kind: str = "svg") -> bytes | None:
    """Draw DOT text with Graphviz's `dot` (svg or png) when it is installed; None when not."""
    if shutil.which("dot") is None:
        return None
    return subprocess.run(
        ["dot", f"-T{kind}"], input=dot.encode(), capture_output=True, check=True
    ).stdout


def render_png(dot: str, path: Path) -> Path | None:
    """Draw DOT text into a PNG file when Graphviz's `dot` is installed; None when it is not."""
    picture = render_dot(dot, "png")
    if picture is None:
        return None
    path.write_bytes(picture)
    return path
