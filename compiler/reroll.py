"""Re-rolling: recover the recurrence a sequence network computes from the graph torch.export
unrolled to the traced length L — one cell applied per token, a start state and a readout:

    state_0 = initial;  state_t+1 = cell(state_t, token_t);  output = readout(state_L)

1. Position slices are sunk to the token input (sinking.py), so step t reads `s[:, t]` alone.
2. Each node gets the set of positions it depends on; the *state after step t* is the set of values
   computed from tokens 0..t that a later step reads, less those computable from the others.
3. The computation of steps 1 .. L-2, from the state before to the state after, is hashed
   structurally (tokens and state values as labels, constants by value): every step must be the
   same up to renaming, or the graph is not a recurrence (`NotARecurrence` says where).
4. The start state is what step 0 feeds the cell in place of a state (matched structurally), or
   zeros when the first step is the cell at a zero state (torch folds `W_hh @ 0` away).
5. The readout is what the output computes from the state after the last step; it may read
   nothing else.

The state travels packed: one (1, S) tensor, the state's values flattened and concatenated. The
result is checked against the unrolled graph on random strings before it is returned.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .errors import InputError
from .graph import Graph, Node
from .interpret import interpret, node_values
from .ops import DTYPES, Op
from .rewrite import remove_dead
from .sinking import sink_position_slices
from .spec import InputSpec, Range, Values
from .verify import verify_graph

__all__ = [
    "MIN_LENGTH",
    "Cell",
    "NotARecurrence",
    "Recurrence",
    "one_thread",
    "recurrence_of",
    "reroll",
    "token_domains",
]

MIN_LENGTH = 4  # steps 1 and 2 show the cell and where step 0 leaves its state
CHECK_STRINGS = 16  # random strings the re-rolled network is compared with the unrolled one on
CHECK_RTOL, CHECK_ATOL = 1e-4, 1e-6  # float rounding of the same operations in another order


class NotARecurrence(InputError):
    """The graph is not one cell applied per token followed by a readout of the last state."""


@dataclass(frozen=True, eq=False)
class Cell:
    """One step of a recurrence: graph (state (1, S), token) → state (1, S), from `initial`."""

    graph: Graph
    initial: torch.Tensor  # (1, S)

    @property
    def state_size(self) -> int:
        return self.initial.shape[1]

    @property
    def token_shape(self) -> tuple[int, ...]:
        return self.graph[self.graph.inputs[1]].shape

    def __call__(self, state: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
        return interpret(self.graph, [state, token])[0]

    def __repr__(self) -> str:
        digest = hashlib.sha256(self.graph.fingerprint().encode())
        digest.update(self.initial.detach().contiguous().numpy().tobytes())
        ops = sum(1 for n in self.graph.nodes() if n.op not in (Op.INPUT, Op.CONST))
        return f"cell<{ops} ops, state {self.state_size}, #{digest.hexdigest()[:8]}>"


@dataclass(frozen=True)
class Recurrence:
    """A sequence network as a machine: `cell` per token from its start state, then `readout`."""

    cell: Cell
    readout: Graph  # state (1, S) → the network's output
    length: int  # the length the network was traced at
    token_input: str  # the graph input holding the tokens, (1, L, ...)

    def state(self, tokens: torch.Tensor) -> torch.Tensor:
        """The state after reading `tokens` (n, *token shape) from the start state (reference)."""
        state = self.cell.initial
        for token in tokens:
            state = self.cell(state, token.reshape(self.cell.token_shape))
        return state

    def run(self, tokens: torch.Tensor) -> torch.Tensor:
        """The network's output on a string of any length (the interpreter's reference)."""
        return interpret(self.readout, [self.state(tokens)])[0]

    def as_graph(self, unrolled: Graph) -> Graph:
        """The network as a graph again, with the loop in one node: `scan` over the token input of
        `unrolled`, then the readout."""
        out = Graph()
        tokens = unrolled[self.token_input]
        out.add_node(tokens)
        attrs = {"cell": self.cell, "shape": (1, self.cell.state_size), "dtype": _dtype(self.cell)}
        state = out.add(Op.SCAN, [tokens.name], attrs, name="state")
        renamed = {self.readout.inputs[0]: state}
        for node in self.readout.nodes():
            if node.op is not Op.INPUT:
                renamed[node.name] = _copy(out, node, [renamed[i] for i in node.inputs])
        out.outputs = [renamed[name] for name in self.readout.outputs]
        verify_graph(out, after="re-rolling")
        return out


def _copy(graph: Graph, node: Node, inputs: Sequence[str]) -> str:
    """`node` added to `graph` reading `inputs` (its name kept when free)."""
    return graph.add(
        node.op,
        inputs,
        node.attrs,
        name=node.name,
        value=node.value,
        shape=node.shape,
        dtype=node.dtype,
        meta=node.meta,
    )


def _dtype(cell: Cell) -> str:
    return cell.graph[cell.graph.inputs[0]].dtype


MAX_LISTED_TOKENS = 256  # an integer range wider than this is represented by evenly spaced values
SPACED_TOKENS = 17


def token_domains(spec: InputSpec) -> list[list[float]]:
    """The values each flat element of a token input takes (a continuous range, or an integer range
    too wide to list: its ends and values spaced between, which is enough to see what depends on
    it)."""
    out = []
    for index in range(spec.numel):
        domain = spec.element_domain(index)
        if isinstance(domain, Values):
            out.append(list(domain.values))
        elif spec.integer and domain.hi - domain.lo < MAX_LISTED_TOKENS:
            out.append(list(range(int(domain.lo), int(domain.hi) + 1)))
        elif spec.integer:
            spaced = np.linspace(int(domain.lo), int(domain.hi), SPACED_TOKENS).round()
            out.append(sorted({int(v) for v in spaced}))
        else:
            assert isinstance(domain, Range)
            out.append([domain.lo, (domain.lo + domain.hi) / 2, domain.hi])
    return out


def recurrence_of(graph: Graph, domains: Sequence[Sequence[float]]) -> Recurrence:
    """The recurrence a graph computes: read from its scan node when it has one (the reroll pass
    ran), else re-rolled."""
    scans = [n for n in graph.nodes() if n.op is Op.SCAN]
    if not scans:
        return reroll(graph, domains)
    if len(scans) > 1 or scans[0].inputs[0] != graph.inputs[0]:
        raise NotARecurrence("the graph has more than one loop, or a loop over something else")
    (scan,) = scans
    readout = Graph()
    renamed = {scan.name: _packed_state(readout, scan.shape[1], scan.dtype)}
    for node in graph.nodes():
        if node.name in renamed or node.op is Op.INPUT:
            continue
        if any(i not in renamed for i in node.inputs):
            raise NotARecurrence(f"%{node.name} reads the tokens other than through the loop")
        renamed[node.name] = _copy(readout, node, [renamed[i] for i in node.inputs])
    readout.outputs = [renamed[n] for n in graph.outputs]
    remove_dead(readout)
    return Recurrence(scan.attrs["cell"], readout, graph[graph.inputs[0]].shape[1], scan.inputs[0])


def reroll(graph: Graph, domains: Sequence[Sequence[float]]) -> Recurrence:
    """The recurrence the unrolled graph computes, or NotARecurrence naming what breaks it;
    `domains[i]` lists the values of the token input's flat element i."""
    with one_thread():
        return _reroll(graph, domains)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """torch on one thread: the analysis runs thousands of tiny ops, where a second thread only
    costs synchronisation (10× slower on a loaded machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _reroll(graph: Graph, domains: Sequence[Sequence[float]]) -> Recurrence:
    sequence = _sequence_input(graph)
    length = graph[sequence].shape[1]
    repeats = Counter((n.op, n.shape) for n in graph.nodes() if n.op not in (Op.INPUT, Op.CONST))
    if max(repeats.values(), default=0) < length - 1:
        raise NotARecurrence(
            f"no operation repeats once per position of the {length} tokens, as an unrolled "
            "loop does"
        )
    sunk = sink_position_slices(graph, domains)
    reads = _token_reads(sunk, sequence, length)
    masks = _position_masks(sunk, reads)
    frontiers = [[]] + [_frontier(sunk, masks, reads, t) for t in range(1, length - 1)]
    if len({len(f) for f in frontiers[1:]}) != 1:
        raise _late_read(sunk, masks, frontiers[-1], length - 2)
    frontiers[0] = _first_state(sunk, frontiers, reads)
    signature = _signature(sunk, frontiers, reads, 1)
    for t in range(2, length - 1):
        if _signature(sunk, frontiers, reads, t) != signature:
            raise NotARecurrence(
                f"step {t} computes something other than step 1 from the state and its token",
                hint="re-rolling needs the same cell (same weights) applied to every token",
            )
    last = _last_state(sunk, signature, frontiers[-1], reads, length - 1)
    parts = [sunk[n] for n in frontiers[0]]
    cell_graph = _extract(sunk, frontiers[1], parts, frontiers[0], reads[1], reads)
    readout = _extract(sunk, list(sunk.outputs), parts, last, None, reads)
    zero = Cell(cell_graph, _zeros(parts))
    initial = _initial_state(sunk, frontiers, reads, masks, zero, _tokens(domains, sunk[reads[0]]))
    recurrence = Recurrence(Cell(cell_graph, initial), readout, length, sequence)
    _check(recurrence, graph, domains)
    return recurrence


def _sequence_input(graph: Graph) -> str:
    if len(graph.inputs) != 1:
        raise NotARecurrence(
            f"re-rolling needs one token input; the graph has {len(graph.inputs)}",
            hint="give the sequence as one input of shape (L, ...) per sample",
        )
    (name,) = graph.inputs
    shape = graph[name].shape
    if len(shape) < 2 or shape[1] < MIN_LENGTH:
        raise NotARecurrence(
            f"input {name!r} of shape {list(shape[1:])} per sample is not a sequence of at "
            f"least {MIN_LENGTH} tokens",
            hint="trace the network with a longer sequence, e.g. s:int[12]",
        )
    return name


def _token_reads(graph: Graph, sequence: str, length: int) -> dict[int, str]:
    """position → the one node reading s[:, t]; anything else reading s is refused."""
    reads: dict[int, str] = {}
    for user in graph.users(sequence):
        node = graph[user]
        a = node.attrs
        one = node.op is Op.SLICE and a["dim"] == 1 and a["step"] == 1
        if not one or a["end"] != a["start"] + 1 or a["start"] in reads:
            raise NotARecurrence(
                f"%{user} ({node.op.value}) reads the token sequence other than one position "
                "at a time",
                hint="re-rolling needs each step to read its own token (no convolution or "
                "attention across positions)",
            )
        reads[a["start"]] = user
    missing = sorted(set(range(length)) - set(reads))
    if missing:
        raise NotARecurrence(f"the network never reads the tokens at positions {missing}")
    return reads


def _position_masks(graph: Graph, reads: dict[int, str]) -> dict[str, int]:
    """node → bit t set when it depends on the token at position t."""
    bit = {name: 1 << t for t, name in reads.items()}
    masks: dict[str, int] = {}
    for node in graph.nodes():
        mask = bit.get(node.name, 0)
        for source in node.inputs:
            mask |= masks[source]
        masks[node.name] = mask
    return masks


def _top(mask: int) -> int:
    return mask.bit_length() - 1


def _frontier(graph: Graph, masks: dict[str, int], reads: dict[int, str], t: int) -> list[str]:
    """The state after step t ≥ 1: the values from tokens ≤ t that a later step reads, each taken
    before the ops that transform it alone (`W_hh @ h + b` is carried as h: the last step, which
    no step follows, computes h but not its projection), less those step t computes from the
    others."""
    order = {node.name: i for i, node in enumerate(graph.nodes())}
    roots = set()
    for name in order:
        mask = masks[name]
        if mask and _top(mask) <= t and any(_top(masks[u]) > t for u in graph.users(name)):
            roots.add(_source(graph, name, masks))
    carried = sorted(roots, key=order.__getitem__)
    barrier = set(reads.values()) | {n for n in order if masks[n] and _top(masks[n]) < t}
    for name in reversed(list(carried)):
        if _derived(graph, graph[name].inputs, set(carried) - {name}, masks, barrier):
            carried.remove(name)
    return carried


def _late_read(graph: Graph, masks: dict[str, int], frontier: Sequence[str], t: int) -> Exception:
    """The error for a state that grows from step to step: name the oldest value still read."""
    oldest = min(frontier, key=lambda n: _top(masks[n]))
    reader = max((_top(masks[u]), u) for u in graph.users(oldest))
    return NotARecurrence(
        f"%{oldest}, computed at step {_top(masks[oldest])}, is read by %{reader[1]} after step "
        f"{t}: the network reads earlier steps' values directly (e.g. a mean or attention over "
        "every step's output), not only a state carried from step to step",
        hint="re-rolling needs the output to read only the state after the last token",
    )


def _derived(
    graph: Graph, start: Sequence[str], cut: set[str], masks: dict[str, int], barrier: set[str]
) -> bool:
    """Whether the values reached from `start` stop at `cut` or constants before any barrier
    (tokens, values of earlier steps)."""
    stack, seen = list(start), set()
    while stack:
        name = stack.pop()
        if name in seen or name in cut or not masks[name]:
            continue
        if name in barrier:
            return False
        seen.add(name)
        stack.extend(graph[name].inputs)
    return True


def _first_state(
    graph: Graph, frontiers: Sequence[Sequence[str]], reads: dict[int, str]
) -> list[str]:
    """The state after step 0: what step 1 computes where step 2 reads its state (step 0 has no
    earlier step, so its state cannot be told from values it computes from constants)."""
    bound = _correspond(graph, frontiers[1], frontiers[2], frontiers[1], reads[1], reads[2])
    if bound is None or len(bound) != len(frontiers[1]):
        raise NotARecurrence(
            "step 2 computes something other than step 1 from the state and its token",
            hint="re-rolling needs the same cell (same weights) applied to every token",
        )
    return [bound[i] for i in range(len(bound))]


def _source(graph: Graph, name: str, masks: dict[str, int]) -> str:
    """The earliest value `name` is computed from alone (with constants)."""
    while True:
        varying = [i for i in graph[name].inputs if masks[i]]
        if len(varying) != 1:
            return name
        name = varying[0]


# --- structural hashing -------------------------------------------------------------------------


def _hashes(graph: Graph, labels: dict[str, Any]) -> dict[str, str]:
    """A hash per node of what it computes from the labelled nodes (tokens, state values):
    op, attributes, shape, dtype, constant values, and its inputs' hashes."""
    out: dict[str, str] = {}
    for node in graph.nodes():
        if node.name in labels:
            text = repr(labels[node.name])
        elif node.op is Op.CONST:
            assert node.value is not None
            value = node.value.detach().contiguous().numpy().tobytes()
            text = f"const {node.dtype}{node.shape} {hashlib.sha256(value).hexdigest()}"
        elif node.op is Op.INPUT:
            text = f"input {node.name}"
        else:
            attrs = _attrs(node)
            args = ",".join(out[i] for i in node.inputs)
            text = f"{node.op.value} {attrs} {node.dtype}{node.shape} ({args})"
        out[node.name] = hashlib.sha256(text.encode()).hexdigest()[:24]
    return out


def _step_labels(frontier: Sequence[str], reads: dict[int, str], t: int) -> dict[str, Any]:
    labels: dict[str, Any] = {name: ("read", p) for p, name in reads.items()}
    labels.update({name: ("state", i) for i, name in enumerate(frontier)})
    labels[reads[t]] = "token"
    return labels


def _signature(
    graph: Graph, frontiers: Sequence[Sequence[str]], reads: dict[int, str], t: int
) -> tuple[str, ...]:
    """What step t computes for each state value, from the state before it and its token."""
    hashes = _hashes(graph, _step_labels(frontiers[t - 1], reads, t))
    return tuple(hashes[name] for name in frontiers[t])


def _last_state(
    graph: Graph, signature: tuple[str, ...], before: Sequence[str], reads: dict[int, str], t: int
) -> list[str]:
    """The state after the last step: the nodes the last step computes as step 1 computes its
    state (no later step reads them, so they are found by their hashes)."""
    hashes = _hashes(graph, _step_labels(before, reads, t))
    by_hash: dict[str, str] = {}
    for name, value in hashes.items():
        by_hash.setdefault(value, name)
    missing = [i for i, h in enumerate(signature) if h not in by_hash]
    if missing:
        raise NotARecurrence(
            f"the last step does not compute state value(s) {missing} the other steps carry",
            hint="re-rolling needs the last step to be the same cell as the others",
        )
    return [by_hash[h] for h in signature]


# --- building the cell and the readout ------------------------------------------------------


def _extract(
    graph: Graph,
    outputs: Sequence[str],
    parts: Sequence[Node],
    state: Sequence[str],
    token: str | None,
    reads: dict[int, str],
) -> Graph:
    """The graph computing `outputs` from the packed `state` (and `token`): inputs `state`
    (1, S) and `token`; the outputs packed the same way when they are a state, else as they are."""
    cut = set(state) | ({token} if token else set())
    others = set(reads.values()) - cut
    cone, stack = set(), list(outputs)
    while stack:
        name = stack.pop()
        if name in cone or name in cut:
            continue
        node = graph[name]
        if name in others or node.op is Op.INPUT:
            where = [p for p, n in reads.items() if n == name]
            what = f"the token at position {where[0]}" if where else "the whole token sequence"
            raise NotARecurrence(
                f"%{outputs[0]} reads {what} other than through the state",
                hint="re-rolling needs the output to read only the state after the last token",
            )
        cone.add(name)
        stack.extend(node.inputs)
    out = Graph()
    renamed: dict[str, str] = {}
    if state:
        packed = _packed_state(out, sum(p.numel for p in parts), parts[0].dtype)
        renamed.update(zip(state, _unpack(out, packed, parts)))
    if token:
        read = graph[token]
        renamed[token] = out.add(
            Op.INPUT, attrs={"spec": "token"}, name="token", shape=read.shape, dtype=read.dtype
        )
    for node in graph.nodes():
        if node.name in cone:
            renamed[node.name] = _copy(out, node, [renamed[i] for i in node.inputs])
    results = [renamed[name] for name in outputs]
    out.outputs = [_pack(out, results)] if token else results
    verify_graph(out, after="re-rolling")
    return out


def _packed_state(graph: Graph, size: int, dtype: str) -> str:
    """The input holding the state's values, flattened and concatenated: (1, size)."""
    return graph.add(Op.INPUT, attrs={"spec": "state"}, name="state", shape=(1, size), dtype=dtype)


def _unpack(graph: Graph, packed: str, parts: Sequence[Node]) -> list[str]:
    """The state's values, each sliced from the packed (1, S) tensor and given its shape."""
    names, start = [], 0
    for part in parts:
        attrs = {"dim": 1, "start": start, "end": start + part.numel, "step": 1}
        flat = graph.add(Op.SLICE, [packed], attrs, name=f"{part.name}_in")
        names.append(graph.add(Op.RESHAPE, [flat], {"shape": part.shape}, name=part.name))
        start += part.numel
    return names


def _pack(graph: Graph, values: Sequence[str]) -> str:
    flat = [graph.add(Op.RESHAPE, [v], {"shape": (1, graph[v].numel)}) for v in values]
    return flat[0] if len(flat) == 1 else graph.add(Op.CAT, flat, {"dim": 1}, name="next_state")


def _zeros(parts: Sequence[Node]) -> torch.Tensor:
    return torch.zeros(1, sum(p.numel for p in parts), dtype=DTYPES[parts[0].dtype])


def _initial_state(
    graph: Graph,
    frontiers: Sequence[Sequence[str]],
    reads: dict[int, str],
    masks: dict[str, int],
    zero: Cell,
    tokens: Sequence[torch.Tensor],
) -> torch.Tensor:
    """The state the first step starts from: what step 0 reads where step 1 reads its state
    (torch folds what step 0 computes from a constant start state into constants; those places
    are skipped), zeros where step 0 reads nothing. Checked: the cell from that state computes
    what step 0 computes, for every token."""
    bound = _correspond(
        graph, frontiers[0], frontiers[1], frontiers[0], reads[0], reads[1], (masks, 1 << 1)
    )
    start = zero.initial.clone()
    offsets = np.cumsum([0] + [graph[n].numel for n in frontiers[0]])
    if bound:
        string = torch.stack([tokens[0].reshape(-1)] * len(reads), dim=1)
        values = node_values(graph, [string.reshape(graph[graph.inputs[0]].shape)])
        for i, name in bound.items():
            if not masks[name]:
                start[0, offsets[i] : offsets[i + 1]] = values[name].reshape(-1)
    first = _extract(graph, frontiers[0], [graph[n] for n in frontiers[0]], [], reads[0], reads)
    for token in tokens:
        expected = interpret(first, [token])[0]
        if not torch.allclose(zero(start, token), expected, rtol=CHECK_RTOL, atol=CHECK_ATOL):
            raise NotARecurrence(
                "the first step is not the cell applied to one start state",
                hint="re-rolling needs the network to start every sequence from one state",
            )
    return start


def _correspond(
    graph: Graph,
    earlier: Sequence[str],
    later: Sequence[str],
    state: Sequence[str],
    earlier_read: str,
    later_read: str,
    folded: tuple[dict[str, int], int] | None = None,
) -> dict[int, str] | None:
    """Walk what step k computes (`earlier`) alongside what step k + 1 computes (`later`, from
    `state` and its token): where step k + 1 reads state value i, step k reads its own state
    value i. Returns them (index → node), or None when the two steps compute differently.
    `folded` (position masks, the later token's bit): step k may hold a constant where step k + 1
    computes from its state alone (a folded start state); those pairs are skipped."""
    index = {name: i for i, name in enumerate(state)}
    bound: dict[int, str] = {}
    stack, seen = list(zip(earlier, later)), set()
    while stack:
        a, b = stack.pop()
        if (a, b) in seen:
            continue
        seen.add((a, b))
        if b in index:
            if bound.setdefault(index[b], a) != a or graph[a].shape != graph[b].shape:
                return None
            continue
        if (a == earlier_read) != (b == later_read):
            return None
        if a == earlier_read:
            continue
        x, y = graph[a], graph[b]
        same = (x.op, x.shape, x.dtype, len(x.inputs)) == (y.op, y.shape, y.dtype, len(y.inputs))
        same = same and x.op is not Op.INPUT and _attrs(x) == _attrs(y)
        if not same or (x.op is Op.CONST and not torch.equal(x.value, y.value)):
            if folded and not folded[0][a] and not folded[0][b] & folded[1]:
                continue
            return None
        stack.extend(zip(x.inputs, y.inputs))
    return bound


def _attrs(node: Node) -> str:
    return repr(sorted(node.attrs.items()))


MAX_FIRST_TOKENS = 64  # token values the first step is compared with the cell on


def _tokens(domains: Sequence[Sequence[float]], read: Node) -> list[torch.Tensor]:
    """Token values of position 0 (every combination of its elements' values, up to a cap)."""
    count = read.numel
    combos = itertools.islice(itertools.product(*domains[:count]), MAX_FIRST_TOKENS)
    dtype = DTYPES[read.dtype]
    return [torch.tensor(c, dtype=torch.float64).to(dtype).reshape(read.shape) for c in combos]


def _check(recurrence: Recurrence, graph: Graph, domains: Sequence[Sequence[float]]) -> None:
    """The re-rolled network against the unrolled one on random full-length strings."""
    rng = np.random.default_rng(1)
    node = graph[recurrence.token_input]
    for _ in range(CHECK_STRINGS):
        string = np.array([rng.choice(np.asarray(d)) for d in domains]).reshape(node.shape)
        tokens = torch.tensor(string, dtype=DTYPES[node.dtype])
        expected = interpret(graph, [tokens])[0]
        got = recurrence.run(tokens[0])
        same = got.shape == expected.shape and torch.allclose(
            got.double(), expected.double(), rtol=CHECK_RTOL, atol=CHECK_ATOL
        )
        if not same:
            raise NotARecurrence(
                f"the re-rolled network differs from the unrolled one on {string.tolist()}",
                hint="a dependence between positions the analysis did not see; please report it",
            )
