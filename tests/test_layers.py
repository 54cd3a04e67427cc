"""The import graph is a DAG with stated layers: every import, function-level ones included, goes to
the same layer or below; passes and backends never import each other.

    foundation (errors, options, spec) → IR (ops, graph, analyses) → model side (front end,
    model files) → measurement (fidelity, reference) → pipeline → passes → driver (native,
    artifact, report, api, cli); the backends sit on the IR and serve the driver alone.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "nnc": ROOT / "compiler",
    "nnc.passes": ROOT / "passes",
    "nnc.backends": ROOT / "backends",
}

# module → layer; a module may import only modules of its own layer or a lower one
LAYERS: list[tuple[str, set[str]]] = [
    (
        "foundation",
        {
            "nnc.errors",
            "nnc.version",
            "nnc.progress",
            "nnc.physical_units",
            "nnc.options",
            "nnc.spec",
            "nnc.spec_grammar",
            "nnc.domain",
            "nnc.limits",
            "nnc.fanout",
        },
    ),
    (
        "ir",
        {
            "nnc.closed_form",
            "nnc.ops",
            "nnc.graph",
            "nnc.verify",
            "nnc.interpret",
            "nnc.rewrite",
            "nnc.symbolic",
            "nnc.expr_ranges",
            "nnc.bounds",
            "nnc.sinking",
            "nnc.reroll",
            "nnc.automaton",
        },
    ),
    (
        "model",
        {
            "nnc.torch_model",
            "nnc.pt2_archive",
            "nnc.torchscript_archive",
            "nnc.provenance",
            "nnc.modelfile",
            "nnc.frontend_builder",
            "nnc.frontend_math",
            "nnc.frontend_tensor",
            "nnc.frontend_nn",
            "nnc.frontend",
        },
    ),
    ("backends", {"nnc.backends", "nnc.backends.*"}),
    (
        "measurement",
        {"nnc.fidelity", "nnc.reference", "nnc.verification", "nnc.exhaustive"},
    ),
    ("pipeline", {"nnc.pipeline"}),
    ("passes", {"nnc.passes", "nnc.passes.*"}),
    (
        "driver",
        {
            "nnc",
            "nnc.native",
            "nnc.artifact",
            "nnc.report_data",
            "nnc.comparison",
            "nnc.figures",
            "nnc.graph_picture",
            "nnc.summary",
            "nnc.report_html",
            "nnc.report_markdown",
            "nnc.report",
            "nnc.api",
            "nnc.console",
            "nnc.cli_parsers",
            "nnc.cli",
        },
    ),
]
# pairs that may not import each other whatever their order: the backends serve the driver only
SIBLINGS = [("model", "backends")] + [
    ("backends", layer) for layer in ("measurement", "pipeline", "passes")
]


def _modules() -> dict[str, Path]:
    """Python modules, and C extensions by their source (they import no nnc module)."""
    found = {}
    for package, folder in PACKAGES.items():
        for path in [*folder.rglob("*.py"), *folder.rglob("*.c")]:
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def _layer(module: str) -> int:
    for index, (_, members) in enumerate(LAYERS):
        for member in members:
            if module == member or (member.endswith(".*") and module.startswith(member[:-1])):
                return index
    raise AssertionError(f"{module} has no layer: add it to LAYERS in {Path(__file__).name}")


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """Every nnc module `module` imports, wherever the import statement is (functions too)."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    if path.suffix == ".c":
        return found
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def _graph() -> nx.DiGraph:
    modules = _modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for module, path in modules.items():
        for target in _imports(module, path, set(modules)):
            graph.add_edge(module, target)
    return graph


def test_every_module_has_a_layer():
    for module in _modules():
        _layer(module)


def test_no_import_goes_up_a_layer():
    upward = [
        f"{a} ({LAYERS[_layer(a)][0]}) imports {b} ({LAYERS[_layer(b)][0]})"
        for a, b in _graph().edges
        if _layer(b) > _layer(a)
    ]
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


@pytest.mark.parametrize(("left", "right"), SIBLINGS)
def test_sibling_layers_do_not_import_each_other(left, right):
    names = [name for name, _ in LAYERS]
    crossing = [
        f"{a} imports {b}"
        for a, b in _graph().edges
        if {names[_layer(a)], names[_layer(b)]} == {left, right}
    ]
    assert not crossing, "\n".join(crossing)


def test_the_import_graph_has_no_cycle():
    cycles = list(nx.simple_cycles(_graph()))
    assert not cycles, "import cycles: " + "; ".join(" → ".join(c) for c in cycles[:5])


def test_the_checker_sees_function_level_imports(tmp_path):
    """A back edge hidden in a function body is still an edge (the test would fail on it)."""
    module = tmp_path / "sample.py"
    module.write_text("def f():\n    from nnc.api import compile\n    return compile\n")
    assert _imports("nnc.errors", module, {"nnc.api", "nnc.errors"}) == {"nnc.api"}
