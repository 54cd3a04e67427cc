"""The pipeline: the pass registry, the records it fills, its own measurement of approximate passes,
the errors it raises for unknown passes and broken graphs, and what the log shows per debug level."""

from __future__ import annotations

import dataclasses

import nnc.passes  # noqa: F401  (fills the registry with nnc's passes)
import numpy as np
import pytest
import torch
from helpers import pass_context
from nnc.errors import GraphInvariantError, InputError, InternalError
from nnc.graph import Graph
from nnc.ops import Op
from nnc.pipeline import PASSES, PassContext, dump_graph, flops, register_pass, run_pipeline
from nnc.reference import Reference
from nnc.spec_grammar import parse_inputs

SPEC = "x:double[2]=-1..1"


def _graph() -> Graph:
    """y = relu(x @ w) with w = [[1, -1], [2, 0.5]]: two ops, four parameters."""
    graph = Graph()
    x = graph.add(Op.INPUT, name="x", shape=(1, 2), dtype="float64")
    w = graph.add(Op.CONST, value=torch.tensor([[1.0, -1.0], [2.0, 0.5]], dtype=torch.float64))
    graph.outputs = [graph.add(Op.RELU, [graph.add(Op.MATMUL, [x, w])], name="y")]
    return graph


def _without_relu(graph: Graph, ctx: PassContext) -> Graph:
    """Drop the final relu (changes the outputs wherever x @ w < 0)."""
    out = graph.copy()
    (y,) = out.outputs
    out.replace_uses(y, out[y].inputs[0])
    out.remove(y)
    ctx.count("relus dropped")
    ctx.count("nothing", 0)
    ctx.note("dropped the relu")
    ctx.attach("evidence", {"dropped": 1})
    return out


def _identity(graph: Graph, ctx: PassContext) -> Graph:
    """Change nothing."""
    return graph


def _register(monkeypatch: pytest.MonkeyPatch, name: str, function, exact: bool) -> None:
    """Register a test pass for one test only (monkeypatch removes the entry afterwards)."""
    monkeypatch.setitem(PASSES, name, None)
    register_pass(name, exact=exact)(function)


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> None:
    _register(monkeypatch, "t_drop", _without_relu, exact=False)
    _register(monkeypatch, "t_exact_drop", _without_relu, exact=True)
    _register(monkeypatch, "t_same", _identity, exact=False)


def _setting(**options):
    specs = parse_inputs([SPEC])
    x = np.random.default_rng(0).uniform(-1, 1, (64, 2))
    network = np.maximum(x @ np.array([[1.0, -1.0], [2.0, 0.5]]), 0)
    reference = Reference([x], False, None, network)
    ctx = pass_context(specs, **options)
    return dataclasses.replace(ctx.setting, reference=reference)


def test_register_pass_names_the_function_and_its_description(passes) -> None:
    registered = PASSES["t_drop"]
    assert registered.function is _without_relu and not registered.exact
    assert registered.description == "Drop the final relu (changes the outputs wherever x @ w < 0)."
    assert PASSES["t_exact_drop"].exact


def test_record_fields_are_measured_by_the_pipeline(passes) -> None:
    graph = _graph()
    result, (record,) = run_pipeline(graph, ["t_drop"], _setting())
    assert record.name == "t_drop" and record.changed
    assert record.nodes == (2, 1) and record.params == (4, 4)
    assert record.flops == (flops(graph), flops(result)) == (8 + 2, 8)
    assert record.stats == {"relus dropped": 1}  # a zero count is not recorded
    assert record.notes == ["dropped the relu"] and record.data == {"evidence": {"dropped": 1}}
    assert record.seconds >= 0
    assert [n.op for n in graph.nodes()][-1] is Op.RELU  # the input graph is left as it was


def test_an_approximate_pass_is_measured_against_the_network(passes) -> None:
    _, (record,) = run_pipeline(_graph(), ["t_drop"], _setting())
    assert record.fidelity is not None and record.fidelity.points == 64
    assert record.fidelity.max_rel > 0.1  # the relu mattered on these points
    assert record.approximate


def test_exact_and_unchanged_passes_are_not_measured(passes) -> None:
    _, records = run_pipeline(_graph(), ["t_same", "t_exact_drop"], _setting())
    assert [r.changed for r in records] == [False, True]
    assert [r.fidelity for r in records] == [None, None]
    assert not any(r.approximate for r in records)


def test_a_faithful_rewrite_measures_within_float_rounding(passes) -> None:
    setting = _setting()
    linear = setting.reference.flat @ np.array([[1.0, -1.0], [2.0, 0.5]])
    same = dataclasses.replace(
        setting, reference=dataclasses.replace(setting.reference, network=linear)
    )
    _, (record,) = run_pipeline(_graph(), ["t_drop"], same)  # the network has no relu here
    assert record.fidelity is not None and record.fidelity.max_rel < 1e-12
    assert not record.approximate


def test_unknown_pass_is_an_input_error_with_a_suggestion(passes) -> None:
    with pytest.raises(InputError, match=r"unknown pass\(es\) \['prnue'\]") as caught:
        run_pipeline(_graph(), ["fold", "prnue"], _setting())
    assert caught.value.hint == "did you mean 'prune'?"


def test_a_pass_that_breaks_the_graph_is_named(passes, monkeypatch) -> None:
    def broken(graph: Graph, ctx: PassContext) -> Graph:
        """Record a wrong shape."""
        out = graph.copy()
        out.replace("y", dataclasses.replace(out["y"], shape=(1, 3)))
        return out

    _register(monkeypatch, "t_broken", broken, exact=True)
    with pytest.raises(GraphInvariantError, match="after pass t_broken") as caught:
        run_pipeline(_graph(), ["t_same", "t_broken"], _setting())
    assert "During: pass t_broken" in str(caught.value)


def test_a_foreign_exception_becomes_an_internal_error_in_context(passes, monkeypatch) -> None:
    def crash(graph: Graph, ctx: PassContext) -> Graph:
        """Fail."""
        raise ZeroDivisionError("boom")

    _register(monkeypatch, "t_crash", crash, exact=True)
    with pytest.raises(InternalError, match="ZeroDivisionError: boom") as caught:
        run_pipeline(_graph(), ["t_crash"], _setting())
    assert caught.value.context == ["pass t_crash"]


def _log(names: list[str], **options) -> list[str]:
    lines: list[str] = []
    run_pipeline(_graph(), names, _setting(**options), log=lines.append)
    return lines


def _dumps(lines: list[str]) -> list[str]:
    return [line.splitlines()[0] for line in lines if line.startswith("--- graph after")]


def test_level_0_logs_nothing(passes) -> None:
    """The summary after the compile states each record and note once; the log repeats none."""
    assert _log(["t_same", "t_drop"]) == []


def test_level_1_logs_the_record_and_the_notes(passes) -> None:
    (line, note) = _log(["t_drop"], debug=1)
    assert line.startswith("t_drop: changed, ops 2 -> 1, parameters 4 -> 4, flops 10 -> 8, ")
    assert "relus dropped 1" in line and "(approximate)" in line
    assert note == "t_drop: dropped the relu"


def test_level_2_dumps_the_graph_after_each_pass_that_changed_it(passes) -> None:
    lines = _log(["t_same", "t_drop"], debug=2)
    assert _dumps(lines) == ["--- graph after pass t_drop: 3 nodes ---"]
    (dump,) = [line for line in lines if line.startswith("--- graph after")]
    result, _ = run_pipeline(_graph(), ["t_drop"], _setting())
    assert dump == dump_graph(result, "pass t_drop")
    assert dump.endswith("\n" + result.format())


def test_level_3_shows_closed_forms_and_evidence(passes) -> None:
    lines = _log(["t_drop"], debug=3)
    assert "t_drop: closed forms: none" in lines
    assert "t_drop: evidence evidence: {'dropped': 1}" in lines


def test_print_after_names_passes_changed_or_not(passes) -> None:
    assert _dumps(_log(["t_same", "t_drop"], print_after="t_same")) == [
        "--- graph after pass t_same: 4 nodes ---"
    ]
    assert len(_dumps(_log(["t_same", "t_drop"], print_after=["all"]))) == 2
    assert _dumps(_log(["t_same", "t_drop"])) == []


def test_print_after_a_misspelt_pass_suggests_the_name(passes) -> None:
    with pytest.raises(InputError, match="'t_dorp', which is not a pass") as caught:
        _log(["t_drop"], print_after="t_dorp")
    assert caught.value.hint == "did you mean 't_drop'?"


def test_print_after_a_pass_that_does_not_run_is_an_error(passes) -> None:
    with pytest.raises(
        InputError, match=r"'t_same', which does not run in this pipeline \(t_drop\)"
    ):
        _log(["t_drop"], print_after="t_same")


def test_flops_count_matmul_elementwise_reductions_and_closed_forms() -> None:
    import sympy

    graph = Graph()
    x = graph.add(Op.INPUT, name="x", shape=(1, 3), dtype="float64")
    w = graph.add(Op.CONST, value=torch.ones(3, 4, dtype=torch.float64))
    h = graph.add(Op.TANH, [graph.add(Op.MATMUL, [x, w])])
    total = graph.add(Op.SUM, [h], {"dims": (1,), "keepdim": True})
    a, b = sympy.symbols("a b")
    attrs = {
        "expr": a * b + a,
        "bindings": (("a", 0, 0), ("b", 0, 1)),
        "shape": (1, 1),
        "dtype": "float64",
    }
    law = graph.add(Op.EXPR, [x], attrs)
    graph.outputs = [graph.add(Op.CAT, [total, law], {"dim": 1})]
    # matmul 2·3·4, tanh 4, sum over 4 inputs, the closed form's 2 operations; cat moves data
    assert flops(graph) == 24 + 4 + 4 + 2
