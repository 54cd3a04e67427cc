"""The IR: a Graph of Nodes held in a networkx.DiGraph, edges derived from each node's ordered inputs."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import torch

from .errors import GraphInvariantError
from .ops import DTYPES, OP_TABLE, Op, dtype_name

__all__ = ["Graph", "Node", "infer_meta"]


@dataclass(frozen=True, eq=False)
class Node:
    """One value of the computation: `op` applied to the named `inputs` (order matters)."""

    name: str
    op: Op
    inputs: tuple[str, ...]
    attrs: dict[str, Any]
    shape: tuple[int, ...]
    dtype: str
    value: torch.Tensor | None = None  # CONST only
    meta: dict[str, Any] = field(default_factory=dict)  # provenance: source line, module path

    @property
    def numel(self) -> int:
        count = 1
        for size in self.shape:
            count *= size
        return count

    def format(self) -> str:
        """One deterministic line, fx style: `%h : f32[1, 8] = relu(%x)`."""
        args = ", ".join(f"%{name}" for name in self.inputs)
        attrs = ", ".join(f"{k}={v}" for k, v in sorted(self.attrs.items()))
        call = f"{self.op.value}({', '.join(filter(None, [args, attrs]))})"
        if self.op is Op.CONST:
            call = f"const({_summary(self.value)})"
        elif self.op is Op.EXPR:
            from .closed_form import readable

            call = f"expr({args})  ⟨{readable(self.attrs['expr'])}⟩"
        elif self.op is Op.TABLE:
            call = f"table({args}, {self.attrs['table'].numel()} entries)"
        dims = ", ".join(map(str, self.shape))
        return f"%{self.name} : {_short_dtype(self.dtype)}[{dims}] = {call}"


def _short_dtype(name: str) -> str:
    return name.replace("float", "f").replace("uint", "u").replace("int", "i")


def _summary(value: torch.Tensor | None) -> str:
    assert value is not None
    if value.numel() <= 4:
        return ", ".join(f"{v:g}" for v in value.reshape(-1).tolist())
    return f"{value.numel()} values"


def infer_meta(
    op: Op, inputs: Sequence[Node], attrs: dict[str, Any]
) -> tuple[tuple[int, ...], str]:
    """Shape and dtype of `op` on these inputs, found by running its reference on meta tensors."""
    info = OP_TABLE[op]
    if info.declared_meta:
        return tuple(attrs["shape"]), attrs["dtype"]
    reference = info.reference
    assert reference is not None, f"{op} is a source; its shape is given, not inferred"
    fakes = [torch.empty(n.shape, dtype=DTYPES[n.dtype], device="meta") for n in inputs]
    out = reference(fakes, attrs)
    return tuple(out.shape), dtype_name(out.dtype)


class Graph:
    """A DAG of Nodes with explicit ordered inputs and outputs; passes build new Graphs from old."""

    def __init__(self) -> None:
        self._g = nx.DiGraph()
        self._sorted: list[str] | None = None  # topological order, until the structure changes
        self._order: dict[str, int] = {}  # insertion index: breaks topological ties
        self._next = 0
        self.inputs: list[str] = []
        self.outputs: list[str] = []

    # --- building -----------------------------------------------------------------------
    def add(
        self,
        op: Op,
        inputs: Sequence[str] = (),
        attrs: dict[str, Any] | None = None,
        *,
        name: str | None = None,
        value: torch.Tensor | None = None,
        shape: tuple[int, ...] | None = None,
        dtype: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> str:
        """Add a node and return its (unique) name; shape and dtype are inferred unless given."""
        attrs = dict(attrs or {})
        if op is Op.CONST:
            assert value is not None
            shape, dtype = tuple(value.shape), dtype_name(value.dtype)
        elif shape is None or dtype is None:
            shape, dtype = infer_meta(op, [self[i] for i in inputs], attrs)
        node = Node(
            self._unique(name or op.value),
            op,
            tuple(inputs),
            attrs,
            tuple(shape),
            dtype,
            value,
            dict(meta or {}),
        )
        self._insert(node)
        if op is Op.INPUT:
            self.inputs.append(node.name)
        return node.name

    def add_node(self, node: Node) -> None:
        """Insert a node built elsewhere (e.g. copied from another graph); its name must be free."""
        if node.name in self._g:
            raise GraphInvariantError(f"node %{node.name} already exists")
        self._insert(node)
        if node.op is Op.INPUT:
            self.inputs.append(node.name)

    def replace(self, name: str, node: Node) -> None:
        """Put `node` (same name) in place of the node called `name`, rewiring its input edges."""
        assert node.name == name
        self._sorted = None
        for old in list(self._g.predecessors(name)):
            self._g.remove_edge(old, name)
        self._g.nodes[name]["node"] = node
        for source in node.inputs:
            self._g.add_edge(source, name)

    def replace_uses(self, old: str, new: str) -> None:
        """Make every user of `old` (and the outputs) read `new` instead."""
        for user in list(self._g.successors(old)):
            node = self[user]
            inputs = tuple(new if i == old else i for i in node.inputs)
            self.replace(user, dataclasses.replace(node, inputs=inputs))
        self.outputs = [new if o == old else o for o in self.outputs]

    def remove(self, name: str) -> None:
        """Remove a node that nothing uses."""
        if any(True for _ in self._g.successors(name)) or name in self.outputs:
            raise GraphInvariantError(f"cannot remove %{name}: it is still used")
        self._g.remove_node(name)
        self._sorted = None
        del self._order[name]
        if name in self.inputs:
            self.inputs.remove(name)

    def _insert(self, node: Node) -> None:
        self._g.add_node(node.name, node=node)
        self._sorted = None
        self._order[node.name] = self._next
        self._next += 1
        for source in node.inputs:
            if source not in self._g:
                raise GraphInvariantError(f"%{node.name} reads %{source}, which does not exist")
            self._g.add_edge(source, node.name)

    def _unique(self, base: str) -> str:
        base = "".join(c if c.isalnum() or c == "_" else "_" for c in base) or "v"
        if base not in self._g:
            return base
        k = 1
        while f"{base}_{k}" in self._g:
            k += 1
        return f"{base}_{k}"

    # --- reading ------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Node:
        return self._g.nodes[name]["node"]

    def __contains__(self, name: str) -> bool:
        return name in self._g

    def __len__(self) -> int:
        return self._g.number_of_nodes()

    def nodes(self) -> Iterator[Node]:
        """Nodes in deterministic topological order (insertion order breaks ties)."""
        if self._sorted is None:
            order = nx.lexicographical_topological_sort(self._g, key=self._order.__getitem__)
            self._sorted = list(order)
        for name in self._sorted:
            yield self[name]

    def users(self, name: str) -> list[str]:
        return sorted(self._g.successors(name), key=self._order.__getitem__)

    def is_acyclic(self) -> bool:
        return nx.is_directed_acyclic_graph(self._g)

    def ancestors(self, names: Iterable[str]) -> set[str]:
        """Every node the given nodes depend on, themselves included."""
        found = set(names)
        for name in list(found):
            found |= nx.ancestors(self._g, name)
        return found

    def parameter_count(self) -> int:
        return sum(n.numel for n in self.nodes() if n.op is Op.CONST)

    def copy(self) -> Graph:
        other = Graph()
        other._g = self._g.copy()
        other._sorted = self._sorted
        other._order = dict(self._order)
        other._next = self._next
        other.inputs = list(self.inputs)
        other.outputs = list(self.outputs)
        return other

    def format(self) -> str:
        """The whole graph as text, one line per node, then the outputs."""
        lines = [node.format() for node in self.nodes()]
        lines.append("return " + ", ".join(f"%{o}" for o in self.outputs))
        return "\n".join(lines)

    def fingerprint(self) -> str:
        """A hash of the printed graph and constant values: equal fingerprints, equal graphs."""
        digest = hashlib.sha256(self.format().encode())
        for node in self.nodes():
            if node.value is not None:
                digest.update(node.value.detach().contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]
