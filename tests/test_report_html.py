"""The HTML report (compiler/report_html.py, figures.py, graph_picture.py): one self-contained
page with every section, MathML formulas, and graph pictures with or without Graphviz."""

from __future__ import annotations

import re

from nnc.graph_picture import graph_svg
from nnc.report_html import mathml


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
