"""automata: when a recurrent network reads token strings over a small alphabet and decides
(argmax, threshold), extract the finite automaton its decisions follow and compile that instead.

    %state : f32[1, 32] = scan(%s, cell=cell<28 ops, state 32>)
    %decision : i64[1] = argmax(%logits)               →   %decision : i64[1] = automaton(%s)
                                                                ⟨automaton<3 states, 2 symbols>⟩

Learning: L* (AALpy) with the re-rolled network (compiler/reroll.py) as the membership oracle and
every string up to the checked length as the equivalence oracle (automata_learning.py).

Verified, and said how far: against the network's cell run to that length, on every string of
length 1 .. K, K = L (the traced length) when those are at most `MAX_STRINGS` strings, else the
largest K that fits plus `SAMPLE` strings of lengths K+1 .. L; and on `SAMPLE` strings of lengths
L+1 .. 2L, to show whether the automaton generalises as the network does (reported, not gated).
Disagreements are listed as synth lists them. The empty string is not checked: a recurrent layer
reads at least one token, so the start state's own decision is free and set to what keeps the
automaton smallest.

The size rule keeps the automaton honest — it is accepted only when
  * it has at most `MAX_STATES` states,
  * its transitions (states × symbols) are at most `MAX_SHARE` of the strings checked,
  * learning from the strings up to ⌈K/2⌉ gives the same automaton (a regular behaviour stops
    growing; a counter keeps adding states as longer strings are checked), and
  * its decisions agree with the network on the checked strings as the Gate requires of a
    program (`Gate.agreement`).
Otherwise the network stays and the notes say which condition failed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from nnc.automaton import Automaton
from nnc.graph import Graph, Node
from nnc.ops import Op, is_integer_dtype
from nnc.pipeline import PassContext, register_pass
from nnc.reroll import NotARecurrence, one_thread, recurrence_of, token_domains
from nnc.rewrite import remove_dead

__all__ = ["MAX_SHARE", "MAX_STATES", "MAX_STRINGS", "SAMPLE", "automata"]

MAX_STATES = 64
MAX_SHARE = 0.01  # transitions per string checked
MAX_STRINGS = 1_000_000  # strings checked one by one
SAMPLE = 2000  # sampled strings per range of longer lengths
MAX_ALPHABET = 64  # symbols
MAX_TOKEN_SPAN = 1024  # the table is indexed by token - smallest token
SHOWN_DISAGREEMENTS = 20
SEED = 0


@dataclass
class Check:
    """The automaton against the network on one set of strings."""

    lengths: tuple[int, int]  # shortest and longest length checked
    strings: int
    agreement: int
    complete: bool  # every string of those lengths
    disagreements: list[tuple[list[int], int, int]] = field(default_factory=list)

    def describe(self) -> str:
        how = "every string" if self.complete else "a sample of strings"
        return (
            f"{how} of length {self.lengths[0]}..{self.lengths[1]}: agrees with the network on "
            f"{self.agreement}/{self.strings}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "lengths": list(self.lengths),
            "strings": self.strings,
            "agreement": self.agreement,
            "complete": self.complete,
            "disagreements": [list(d) for d in self.disagreements],
        }


@register_pass("automata", exact=False)
def automata(graph: Graph, ctx: PassContext) -> Graph:
    """Extract the finite automaton a recurrent network's decisions follow over token strings."""
    alphabet = _alphabet(graph, ctx)
    if alphabet is None:
        return graph
    try:
        recurrence = recurrence_of(graph, token_domains(ctx.specs[0]))
    except NotARecurrence as error:
        ctx.note(f"skipped: not a recurrence ({error})")
        return graph
    from .automata_learning import TooManyStates, learn
    from .automata_oracle import NetworkOracle

    length = recurrence.length
    with one_thread():
        oracle = NetworkOracle(recurrence, ctx.native, alphabet)
        depth = _exhaustive_depth(len(alphabet), length)
        try:
            learned = learn(oracle, depth, MAX_STATES, ctx.gate.agreement)
            half = learn(oracle, math.ceil(depth / 2), MAX_STATES, ctx.gate.agreement)
        except TooManyStates as error:
            ctx.note(
                f"kept the network: its decisions on strings up to length {depth} need more "
                f"than {MAX_STATES} states (a hypothesis of {error.states})"
            )
            return graph
        checks = _checks(learned, oracle, depth, length)
    ctx.count("states", learned.states)
    ctx.count("network strings run", oracle.calls)
    reason = _size_rule(learned, half, checks[0], depth, ctx)
    _report(learned, checks, reason, ctx)
    if reason is not None:
        ctx.note(f"kept the network: {reason}")
        return graph
    return _with_automaton(graph, learned, checks)


def _alphabet(graph: Graph, ctx: PassContext) -> list[int] | None:
    """The token values, when the pass applies: one integer input (1, L) whose elements share a
    small set of values, and a decision for output."""
    specs = ctx.specs
    output = graph[graph.outputs[0]]
    decision = ctx.options.output.kind != "raw" or is_integer_dtype(output.dtype)
    single = len(specs) == 1 and len(graph.inputs) == 1 and len(graph[graph.inputs[0]].shape) == 2
    if not (decision and single and specs[0].integer and specs[0].calibration is None):
        ctx.note("skipped: needs one integer token sequence as input and a decision as output")
        return None
    if output.numel != 1:
        ctx.note(f"skipped: the output has {output.numel} values; an automaton decides one")
        return None
    domains = {tuple(d) for d in token_domains(specs[0])}
    if len(domains) != 1:
        ctx.note("skipped: the token positions take different sets of values")
        return None
    (values,) = domains
    alphabet = sorted(int(v) for v in values)
    if len(alphabet) > MAX_ALPHABET or alphabet[-1] - alphabet[0] >= MAX_TOKEN_SPAN:
        ctx.note(
            f"skipped: {len(alphabet)} token values from {alphabet[0]} to {alphabet[-1]}; "
            f"automata are extracted over at most {MAX_ALPHABET} values spanning "
            f"{MAX_TOKEN_SPAN}"
        )
        return None
    return alphabet


def _exhaustive_depth(symbols: int, length: int) -> int:
    """The longest K ≤ length with every string of length 1..K at most MAX_STRINGS strings."""
    depth, total = 0, 0
    while depth < length and total + symbols ** (depth + 1) <= MAX_STRINGS:
        depth += 1
        total += symbols**depth
    return depth


def _checks(automaton: Automaton, oracle: Any, depth: int, length: int) -> list[Check]:
    """Every string of length 1 .. depth (the network reads at least one token); a sample of
    lengths depth+1 .. length when depth < length; a sample of lengths length+1 .. 2·length."""
    from .automata_learning import level_decisions

    network = oracle.levels(depth)[1:]
    mine = level_decisions(automaton, depth)[1:]
    strings = sum(len(level) for level in network)
    agreement = sum(int((a == b).sum()) for a, b in zip(network, mine))
    exhaustive = Check((1, depth), strings, agreement, True)
    for k, (a, b) in enumerate(zip(network, mine), start=1):
        for index in np.flatnonzero(a != b)[: SHOWN_DISAGREEMENTS - len(exhaustive.disagreements)]:
            tokens = [automaton.alphabet[s] for s in _unindex(index, k, oracle.symbols)]
            exhaustive.disagreements.append((tokens, int(a[index]), int(b[index])))
    checks = [exhaustive]
    if depth < length:
        checks.append(_sampled(automaton, oracle, depth + 1, length))
    checks.append(_sampled(automaton, oracle, length + 1, 2 * length))
    return checks


def _unindex(index: int, length: int, base: int) -> list[int]:
    digits = []
    for _ in range(length):
        index, digit = divmod(int(index), base)
        digits.append(digit)
    return digits[::-1]


def _sampled(automaton: Automaton, oracle: Any, shortest: int, longest: int) -> Check:
    """SAMPLE random strings with lengths uniform in shortest .. longest."""
    rng = np.random.default_rng(SEED)
    lengths = rng.integers(shortest, longest + 1, size=SAMPLE)
    check = Check((shortest, longest), SAMPLE, 0, False)
    for n in np.unique(lengths):
        strings = rng.integers(0, oracle.symbols, size=(int((lengths == n).sum()), int(n)))
        network = oracle.decisions(strings)
        tokens = np.asarray(automaton.alphabet)[strings]
        mine = automaton.run(tokens)
        check.agreement += int((network == mine).sum())
        for index in np.flatnonzero(network != mine):
            if len(check.disagreements) < SHOWN_DISAGREEMENTS:
                check.disagreements.append(
                    (tokens[index].tolist(), int(network[index]), int(mine[index]))
                )
    return check


def _size_rule(
    automaton: Automaton, half: Automaton, exhaustive: Check, depth: int, ctx: PassContext
) -> str | None:
    """Why the automaton may not stand in for the network, or None when it may."""
    transitions = automaton.states * automaton.symbols
    if automaton.states > MAX_STATES:
        return f"{automaton.states} states, more than {MAX_STATES}"
    if transitions > MAX_SHARE * exhaustive.strings:
        return (
            f"its {transitions} transitions are more than {MAX_SHARE:.0%} of the "
            f"{exhaustive.strings} strings it was checked on"
        )
    if not automaton.same_as(half):
        return (
            f"it grows with the length checked ({half.states} states from strings up to "
            f"{math.ceil(depth / 2)}, {automaton.states} from strings up to {depth}): no sign "
            "the network's behaviour is regular"
        )
    needed = ctx.gate.required_agreement(exhaustive.strings)
    if exhaustive.agreement < needed:
        return (
            f"it agrees with the network on {exhaustive.agreement}/{exhaustive.strings} strings, "
            f"fewer than the {needed} the gate requires"
        )
    return None


def _report(
    automaton: Automaton, checks: list[Check], reason: str | None, ctx: PassContext
) -> None:
    regex = automaton.regex()
    ctx.note(
        f"{'accepted' if reason is None else 'rejected'}: automaton of {automaton.states} states "
        f"over {list(automaton.alphabet)}" + (f", accepting {regex}" if regex else "")
    )
    for check in checks:
        ctx.note(check.describe())
    ctx.note("transitions:\n" + automaton.table())
    ctx.attach(
        "automaton",
        {
            **automaton.to_json(),
            "accepted": reason is None,
            "reason": reason,
            "regex": regex,
            "dot": automaton.dot(),
            "table": automaton.table(),
            "checks": [c.to_json() for c in checks],
            "rule": {"max_states": MAX_STATES, "max_share": MAX_SHARE, "stable": True},
        },
    )


def _with_automaton(graph: Graph, automaton: Automaton, checks: list[Check]) -> Graph:
    """The graph whose output is the automaton run over the token input."""
    out = graph.copy()
    (name,) = out.outputs
    node: Node = out[name]
    verified = {
        "exhaustive": checks[0].to_json() | {"disagreements": len(checks[0].disagreements)},
        "sampled": [c.to_json() | {"disagreements": len(c.disagreements)} for c in checks[1:]],
    }
    attrs = {"automaton": automaton, "verified": verified, "shape": node.shape, "dtype": node.dtype}
    replacement = out.add(Op.AUTOMATON, [out.inputs[0]], attrs, name="automaton")
    out.replace_uses(name, replacement)
    remove_dead(out)
    return out
