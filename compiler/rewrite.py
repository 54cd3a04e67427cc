"""The one local-rewrite driver: apply {Op: [rule, ...]} tables to a fixed point, with a sweep cap."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .errors import InternalError
from .graph import Graph, Node
from .ops import Op

__all__ = ["Rule", "remove_dead", "rewrite"]

# A rule looks at one node and returns the name of a value to use instead of it, or None.
# It may add nodes to the graph to build that value; it never edits existing ones.
Rule = Callable[[Graph, Node], "str | None"]


def rewrite(
    graph: Graph,
    rules: dict[Op, Sequence[Rule]],
    every_op: Sequence[Rule] = (),
    max_sweeps: int = 50,
    on_fire: Callable[[str], None] = lambda rule_name: None,
) -> Graph:
    """Rewrite a copy of `graph` until no rule fires; dead nodes are removed after each sweep."""
    graph = graph.copy()
    fired: list[str] = []
    for _ in range(max_sweeps):
        fired = []
        for node in list(graph.nodes()):
            if node.name not in graph or node.op is Op.INPUT:
                continue
            for rule in (*rules.get(node.op, ()), *every_op):
                replacement = rule(graph, graph[node.name])
                if replacement is not None and replacement != node.name:
                    graph.replace_uses(node.name, replacement)
                    fired.append(rule.__name__)
                    on_fire(rule.__name__)
                    break
        remove_dead(graph)
        if not fired:
            return graph
    raise InternalError(
        f"rewrite did not converge after {max_sweeps} sweeps; last rules fired: {fired[-5:]}",
        hint="two rules undo each other; this is a bug in nnc",
    )


def remove_dead(graph: Graph) -> int:
    """Remove nodes no output depends on (inputs stay: they are the ABI); returns how many."""
    live = graph.ancestors(graph.outputs)
    dead = [n.name for n in graph.nodes() if n.name not in live and n.op is not Op.INPUT]
    for name in reversed(dead):
        graph.remove(name)
    return len(dead)


def exprs_as_output(
    graph: Graph,
    exprs: Sequence[Any],
    bindings: Sequence[tuple[str, int, int]],
    prefix: str,
) -> Graph:
    """A copy of `graph` whose output is one EXPR node per output element (over the graph's
    inputs), concatenated; an element whose expression is None keeps its faithful value."""
    out = graph.copy()
    (output,) = out.outputs
    node = out[output]
    vector = len(node.shape) == 2
    parts = []
    for j, expr in enumerate(exprs):
        if expr is None:
            slice_attrs = {"dim": 1, "start": j, "end": j + 1, "step": 1}
            parts.append(out.add(Op.SLICE, [output], slice_attrs))
            continue
        used = {s.name for s in expr.free_symbols}
        attrs = {
            "expr": expr,
            "bindings": tuple(b for b in bindings if b[0] in used),
            "shape": (1, 1) if vector else node.shape,
            "dtype": node.dtype,
        }
        parts.append(out.add(Op.EXPR, list(out.inputs), attrs, name=f"{prefix}{j}"))
    out.outputs = [parts[0] if len(parts) == 1 else out.add(Op.CAT, parts, {"dim": 1})]
    remove_dead(out)
    return out
