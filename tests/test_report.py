"""What a person sees after a compile: the terminal summary (each fact once), the live progress
display, the JSON report against its documented schema, and the HTML / Markdown reports."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import jsonschema
import nnc
import numpy as np
import pytest
import torch
from nnc.cli import main
from nnc.comparison import SWEEP_POINTS
from nnc.graph_picture import graph_svg
from nnc.progress import Progress, Task, live_display, render_tasks
from nnc.report_html import mathml
from nnc.summary import seconds_text
from rich.console import Console
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "docs"
LINEAR_SPEC = "x:float[2]=[0..1, -1..3]"


def _schema(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


class _Linear(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (2 * x[:, :1] + x[:, 1:2]) * torch.ones(1, 2)


def test_every_output_says_what_it_became_and_its_error(law) -> None:
    artifact, _ = law
    (result,) = artifact.report.outputs
    assert result.kind == "approximate" and result.found_by == "sr"
    assert result.formula == artifact.report.closed_form == "x0*x1/x2**2"
    fidelity = artifact.report.fidelity
    assert result.points == fidelity.points == 4096
    assert result.max_rel == pytest.approx(fidelity.max_rel)  # one output: the same figure


def test_exact_forms_and_kept_networks_are_told_apart(classifier) -> None:
    (result,) = classifier.report.outputs
    assert result.name == "class" and result.kind == "exact"
    assert result.agreement == result.points == 36
    prune = next(r for r in classifier.report.passes if r.name == "prune")
    assert prune.fidelity.agreement == 36 and "36/36 agree" in classifier.report.text()
    exact = nnc.compile(_Linear(), [LINEAR_SPEC], mode="exact", quiet=True)
    assert [o.kind for o in exact.report.outputs] == ["exact", "exact"]
    kept = nnc.compile(_Linear(), [LINEAR_SPEC], mode="exact", passes="fold", quiet=True)
    assert [o.kind for o in kept.report.outputs] == ["network", "network"]


def test_sweeps_follow_the_network_along_each_input() -> None:
    artifact = nnc.compile(_Linear(), [LINEAR_SPEC], mode="exact", quiet=True)
    first, second = artifact.report.curves.sweeps
    assert first.element == "x0" and first.base == {"x1": 1.0}
    assert len(first.values) == SWEEP_POINTS
    truth = 2 * first.values + 1.0  # x1 held at the middle of -1..3
    np.testing.assert_allclose(first.network[:, 0], truth, rtol=1e-6)
    np.testing.assert_allclose(first.artifact[:, 0], truth, rtol=1e-6)
    np.testing.assert_allclose(second.network[:, 1], 2 * 0.5 + second.values, rtol=1e-6)


def test_labels_are_compared_per_output() -> None:
    x = np.random.default_rng(0).uniform([0, -1], [1, 3], size=(64, 2)).astype(np.float32)
    truth = np.repeat(2 * x[:, :1] + x[:, 1:2], 2, axis=1)
    truth[:, 1] += 0.5  # the second output's labels are off by 0.5
    artifact = nnc.compile(_Linear(), [LINEAR_SPEC], mode="exact", labels=(x, truth), quiet=True)
    first, second = (o.truth for o in artifact.report.outputs)
    assert first["network_max_rel_error"] < 1e-6
    scale = np.abs(truth[:, 1]).max()
    assert second["network_max_rel_error"] == pytest.approx(0.5 / scale, rel=1e-5)
    printed = artifact.report.text()
    assert "against the labelled data: network" in printed and "y[1]: network" in printed


def test_json_reports_match_their_schemas(law, classifier, tmp_path, capsys) -> None:
    for artifact in (law[0], classifier):
        jsonschema.validate(
            json.loads(json.dumps(artifact.report.to_json())), _schema("report.schema.json")
        )
    pt2 = tmp_path / "linear.pt2"
    nnc.save_model(_Linear(), pt2, inputs=[LINEAR_SPEC])
    out = tmp_path / "linear.so"
    assert main([str(pt2), "-o", str(out), "--mode", "exact", "--json"]) == 0
    jsonschema.validate(json.loads(capsys.readouterr().out), _schema("report.schema.json"))
    assert main(["show", str(out), "--json", "--asm"]) == 0
    shown = json.loads(capsys.readouterr().out)
    jsonschema.validate(shown, _schema("show.schema.json"))
    assert set(shown["disassembly"]) == set(shown["exports"])
    assert main(["inspect", str(pt2), "--json"]) == 0
    jsonschema.validate(json.loads(capsys.readouterr().out), _schema("inspect.schema.json"))


def test_the_schema_is_strict() -> None:
    """A field the schema does not document is refused, so the schema cannot fall behind."""
    schema = _schema("report.schema.json")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"mode": "auto", "surprise": 1}, schema)


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_summary_states_each_fact_once(law, tmp_path, capsys) -> None:
    artifact, _ = law
    printed = _flat(artifact.report.text())
    for record in artifact.report.passes:
        for note in record.notes:
            said = note.removeprefix("skipped: ")
            assert printed.count(_flat(said)) == 1, note
    assert printed.count("verified on") == 1
    # the two error figures say where each was measured
    assert "verified on 4,096 points sampled from the domain" in printed
    assert "on 2,000 validation samples" in printed
    assert "time/sample" in printed and "(torch)" in printed


def test_summary_times_have_readable_units() -> None:
    assert seconds_text(12.34) == "12.3 s"
    assert seconds_text(0.0412) == "41.2 ms"
    assert seconds_text(0.00038) == "380 µs"
    assert seconds_text(5.2e-9) == "5.2 ns"


def test_progress_covers_the_whole_search(law) -> None:
    """The search's display covers the engines and the scoring (the bar once stopped early)."""
    artifact, progress = law
    search = [s for s in progress.seen if s[0] == "output 0"]
    assert {s[1] for s in search} == {artifact.options.sr_seconds}
    statuses = [s[2] for s in search]
    assert "basis search" in statuses and any(s.startswith("scoring candidate") for s in statuses)
    assert search[-1][3].startswith("x0*x1/x2**2")  # the best candidate so far, shown


def test_progress_display_draws_budget_and_best() -> None:
    tasks = [Task("pass sr", None, 0.0), Task("output 0", 30.0, 0.0, "basis search", "x0*x1")]
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(render_tasks(tasks))
    drawn = console.file.getvalue()
    assert "pass sr" in drawn and "of 30 s" in drawn and "basis search" in drawn
    assert "best so far: x0*x1" in drawn


def test_progress_display_stays_off_when_not_a_terminal(capsys) -> None:
    progress = Progress()
    with live_display(progress), progress.task("work", 1.0):
        progress("busy")
    assert capsys.readouterr().err == ""


def test_html_report_is_one_self_contained_page(law, classifier, tmp_path) -> None:
    page = law[0].report.write(tmp_path / "law.html").read_text()
    for section in ("result", "comparison", "search", "evidence", "graphs", "passes", "size"):
        assert f'<section id="{section}">' in page, section
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing fetched
    assert "<script" not in page
    assert page.count("<img ") >= 4  # sweeps, Pareto front, two graphs
    assert "<math" in page and "<msub><mi>x</mi><mi>0</mi></msub>" in page
    assert 'class="chosen"' in page  # the chosen candidate on the front
    decided = classifier.report.write(tmp_path / "classes.html").read_text()
    assert "confusion matrix of decisions" in decided


def test_mathml_writes_mod_as_people_do() -> None:
    import sympy

    a, b = sympy.symbols("a b")
    text = mathml(sympy.Mod(a + b, 113))
    assert "<mo>mod</mo>" in text and "<mn>113</mn>" in text
    assert "<mo><</mo>" not in mathml(sympy.Piecewise((1, a < b), (0, True)))


def test_graph_pictures_with_and_without_graphviz(law) -> None:
    graph = law[0].report.curves.graph_before
    drawn = graph_svg(graph, use_dot=False)  # the networkx + matplotlib drawing
    assert drawn.startswith(b"<?xml") and b"<svg" in drawn
    assert graph_svg(graph).lstrip().startswith((b"<?xml", b"<svg"))


def test_markdown_report_keeps_working(law, tmp_path) -> None:
    path = law[0].report.write(tmp_path / "report.md")
    text = path.read_text()
    assert "**Closed form:** `x0*x1/x2**2`" in text and "![inputs](report-inputs.png)" in text
    assert (tmp_path / "report-inputs.png").stat().st_size > 1000


def test_unknown_report_kind_is_refused(law, tmp_path) -> None:
    with pytest.raises(nnc.InputError, match="report.html"):
        law[0].report.write(tmp_path / "report.pdf")


def test_one_live_display_at_a_time(monkeypatch) -> None:
    """Compiles in several threads on a terminal: the first draws, the others stay silent."""
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    drawn = []
    monkeypatch.setattr("rich.live.Live.__enter__", lambda live: drawn.append(live) or live)
    monkeypatch.setattr("rich.live.Live.__exit__", lambda live, *exc: None)
    with live_display(Progress()), live_display(Progress()):
        pass
    assert len(drawn) == 1
    with live_display(Progress()):  # released afterwards
        pass
    assert len(drawn) == 2
