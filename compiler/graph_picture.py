"""A Graph as a picture (SVG) for the report: Graphviz `dot` when it is installed, otherwise a layered
drawing with networkx and matplotlib. Constants are folded into their users' labels (a weight
matrix is a parameter count, not a box); nodes a pass created are coloured by kind."""

from __future__ import annotations

import shutil
import subprocess

from .graph import Graph, Node
from .ops import Op

__all__ = ["graph_svg", "node_label", "to_dot"]

# node kind → fill colour, shared by both renderings
COLOURS = {"input": "#c8e6c9", "closed form": "#ffe082", "output": "#bbdefb", "op": "#eeeeee"}
MAX_LABELLED_NODES = 120  # larger graphs are drawn without text in the fallback drawing


def graph_svg(graph: Graph, use_dot: bool = True) -> bytes:
    """The graph as an SVG picture: `dot` when available (and `use_dot`), else matplotlib."""
    if use_dot and shutil.which("dot"):
        result = subprocess.run(
            ["dot", "-Tsvg"], input=to_dot(graph).encode(), capture_output=True, check=False
        )
        if result.returncode == 0:
            return result.stdout
    return _drawn(graph)


def node_label(graph: Graph, node: Node) -> str:
    """What a node computes, in a few words: op (or closed form), shape, folded parameters."""
    from .closed_form import readable

    if node.op is Op.EXPR:
        text = readable(node.attrs["expr"])
        head = text if len(text) <= 40 else text[:37] + "…"
    elif node.op is Op.TABLE:
        head = f"table ({node.attrs['table'].numel():,} entries)"
    elif node.op is Op.INPUT:
        head = f"input {node.name}"
    else:
        head = node.op.value
    params = sum(graph[i].numel for i in node.inputs if graph[i].op is Op.CONST)
    lines = [head, "×".join(map(str, node.shape[1:])) or "scalar"]
    if params:
        lines.append(f"{params:,} parameters")
    if node.meta.get("pass"):
        lines.append(f"by {node.meta['pass']}")
    return "\n".join(lines)


def _kind(graph: Graph, node: Node) -> str:
    if node.op is Op.INPUT:
        return "input"
    if node.op in (Op.EXPR, Op.TABLE):
        return "closed form"
    return "output" if node.name in graph.outputs else "op"


def _shown(graph: Graph) -> list[Node]:
    return [n for n in graph.nodes() if n.op is not Op.CONST]


def to_dot(graph: Graph) -> str:
    """Graphviz source: one box per computing node, top to bottom."""
    lines = [
        "digraph nnc {",
        '  graph [rankdir=TB, fontname="Helvetica", bgcolor="transparent"];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
    ]
    shown = _shown(graph)
    names = {n.name for n in shown}
    for node in shown:
        label = node_label(graph, node).replace("\\", "\\\\").replace('"', '\\"')
        label = label.replace("\n", "\\n")
        colour = COLOURS[_kind(graph, node)]
        lines.append(f'  "{node.name}" [label="{label}", fillcolor="{colour}"];')
        for source in node.inputs:
            if source in names:
                lines.append(f'  "{source}" -> "{node.name}";')
    lines.append("}")
    return "\n".join(lines)


def _drawn(graph: Graph) -> bytes:
    """A layered drawing (each node one row below its deepest input) with matplotlib."""
    import networkx as nx

    from .figures import figure_bytes, pyplot

    shown = _shown(graph)
    names = {n.name for n in shown}
    picture = nx.DiGraph()
    for node in shown:
        picture.add_node(node.name)
        picture.add_edges_from((s, node.name) for s in node.inputs if s in names)
    depth: dict[str, int] = {}
    for node in shown:
        depth[node.name] = 1 + max((depth[s] for s in node.inputs if s in depth), default=-1)
    rows: dict[int, list[str]] = {}
    for name, row in depth.items():
        rows.setdefault(row, []).append(name)
    position = {
        name: (k - (len(members) - 1) / 2, -row)
        for row, members in rows.items()
        for k, name in enumerate(members)
    }
    width = max(len(m) for m in rows.values())
    labelled = len(shown) <= MAX_LABELLED_NODES
    plt = pyplot()
    figure, axis = plt.subplots(
        figsize=(min(40, 2.2 + 2.2 * width), min(60, 1.0 + 1.1 * len(rows)))
    )
    nx.draw_networkx_edges(picture, position, ax=axis, arrows=True, arrowsize=8, node_size=1400)
    for node in shown:
        x, y = position[node.name]
        colour = COLOURS[_kind(graph, node)]
        style = {"boxstyle": "round,pad=0.3", "facecolor": colour, "edgecolor": "#555555"}
        text = node_label(graph, node) if labelled else ""
        axis.text(x, y, text or " ", ha="center", va="center", fontsize=7, bbox=style)
    axis.set_axis_off()
    axis.margins(0.15)
    figure.tight_layout()
    return figure_bytes(figure, "svg")
