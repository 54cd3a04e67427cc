"""The HTML report: one self-contained page (pictures inline as SVG data, formulas as MathML, no
script, nothing fetched from the network) showing what each output became, network vs artifact
across the domain, how a formula was chosen, mechanism evidence, the graph before and after the
passes, the pass table, and size and speed."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import sympy
from sympy.printing.mathml import MathMLPresentationPrinter

from .automaton import render_dot
from .figures import (
    EVIDENCE_FIGURES,
    confusion_figure,
    figure_bytes,
    pareto_figure,
    scatter_figure,
    sweep_figure,
)
from .graph_picture import graph_svg
from .report_data import KINDS, OutputResult, ReportData, automaton_lines
from .summary import change_text, pass_error_text, seconds_text

__all__ = ["mathml", "render_html", "write_html"]

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; margin-top: 2em; }
.meta, footer { color: #666; } code { background: #f4f4f4; padding: 0 0.2em; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border-bottom: 1px solid #e4e4e4; padding: 0.3em 0.7em; text-align: left;
         vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.chosen { background: #fff3e0; font-weight: 600; }
.passed { color: #1b5e20; } .failed { color: #b71c1c; font-weight: 700; }
img { max-width: 100%; height: auto; } .graphs { display: flex; gap: 1em; align-items: flex-start; }
.graphs figure { flex: 1; margin: 0; max-height: 80vh; overflow: auto; } figcaption { color: #555; font-size: 0.9em; }
math { font-size: 1.25em; }
"""


class _Printer(MathMLPresentationPrinter):
    """sympy's presentation MathML, with `a mod p` written as people write it."""

    def _print_Mod(self, expr: sympy.Mod) -> Any:
        row = self.dom.createElement("mrow")
        left, right = expr.args
        fence = isinstance(left, (sympy.Add, sympy.Mul))
        for part in self._parenthesized(left, fence) + [self._operator("mod"), self._print(right)]:
            row.appendChild(part)
        return row

    def _parenthesized(self, expr: sympy.Expr, fence: bool) -> list[Any]:
        inner = self._print(expr)
        if not fence:
            return [inner]
        return [self._operator("("), inner, self._operator(")")]

    def _operator(self, text: str) -> Any:
        element = self.dom.createElement("mo")
        element.appendChild(self.dom.createTextNode(text))
        return element


def mathml(expr: sympy.Expr) -> str:
    """The expression as a MathML block; conditionals (which sympy prints as function calls) as
    text."""
    if expr.has(sympy.Piecewise):
        from .closed_form import readable

        body = f"<mtext>{html.escape(readable(expr))}</mtext>"
    else:
        body = _Printer().doprint(expr)
        body = body.replace("<mo><</mo>", "<mo>&lt;</mo>").replace("<mo>></mo>", "<mo>&gt;</mo>")
    return f'<math display="block">{body}</math>'


def write_html(report: ReportData, path: Path) -> Path:
    path.write_text(render_html(report), encoding="utf-8")
    return path


def render_html(report: ReportData) -> str:
    sections = [
        _result(report),
        _comparison(report),
        _searches(report),
        _evidence(report),
        _graphs(report),
        _passes(report),
        _size(report),
    ]
    inputs = ", ".join(f"<code>{_e(i)}</code>" for i in report.inputs)
    meta = f"mode <b>{_e(report.mode)}</b> · output <b>{_e(report.output)}</b> · inputs {inputs}"
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>nnc report: {_e(report.closed_form or 'the network')}</title>",
            f"<style>{STYLE}</style></head><body>",
            "<h1>nnc report</h1>",
            f'<p class="meta">{meta}</p>',
            *sections,
            f"<footer><p>{_e(_timing(report))}</p></footer>",
            "</body></html>",
            "",
        ]
    )


def _e(value: Any) -> str:
    return html.escape(str(value))


def _image(data: bytes, alt: str, kind: str = "svg+xml") -> str:
    encoded = base64.b64encode(data).decode()
    return f'<img alt="{_e(alt)}" src="data:image/{kind};base64,{encoded}">'


def _table(header: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    """A table whose cells are already HTML; numeric columns right-aligned by their `n` class."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = []
    for k, row in enumerate(rows):
        css = f' class="{classes[k]}"' if classes and classes[k] else ""
        body.append(f"<tr{css}>" + "".join(row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _cell(text: Any, numeric: bool = False) -> str:
    return f'<td class="n">{_e(text)}</td>' if numeric else f"<td>{_e(text)}</td>"


def _result(report: ReportData) -> str:
    f = report.fidelity
    verdict = (
        '<span class="passed">passed</span>' if f.passed else '<span class="failed">FAILED</span>'
    )
    rows = [
        [
            _cell(o.name),
            f"<td>{_formula(o)}</td>",
            _cell(KINDS[o.kind] + (f" (found by {o.found_by})" if o.found_by else "")),
            _cell(o.errors_text()),
        ]
        for o in report.outputs
    ]
    truth = "".join(f"<p>{_e(line)}</p>" for line in report.truth_lines())
    return (
        '<section id="result"><h2>Result</h2>'
        f"<p>Verified against the network on {_e(report.domain_text())}: {verdict} "
        f"({_e(report.requirement_text())}).</p>"
        + _table(["output", "result", "what it is", "against the network"], rows)
        + truth
        + "</section>"
    )


def _formula(result: OutputResult) -> str:
    if result.kind == "network":
        return "the network"
    if result.expr is not None:
        return mathml(result.expr) + f"<code>{_e(result.formula)}</code>"
    return _e(result.formula or "")


def _comparison(report: ReportData) -> str:
    names = [o.name for o in report.outputs]
    curves = report.curves
    parts = []
    sweep = sweep_figure(curves, names)
    if sweep is not None:
        held = "the other inputs at the middle of their domain"
        parts.append(
            f"<p>Each input swept across its domain, {held}: the network (solid) and the "
            "artifact (dashed), and their difference below.</p>"
            + _image(figure_bytes(sweep), "network and artifact along each input")
        )
    scatter = scatter_figure(curves, names)
    if scatter is not None and sweep is None:
        parts.append(_image(figure_bytes(scatter), "artifact against network"))
    confusion = confusion_figure(curves)
    if confusion is not None:
        parts.append(_image(figure_bytes(confusion), "confusion matrix of decisions"))
    shown = report.fidelity.disagreements[:50]
    if shown:
        rows = [[_cell(p), _cell(n), _cell(a)] for p, n, a in shown]
        parts.append(
            f"<p>{len(report.fidelity.disagreements):,} disagreements"
            f"{' (the first 50)' if len(report.fidelity.disagreements) > 50 else ''}:</p>"
            + _table(["input", "network", "artifact"], rows)
        )
    if not parts:
        return ""
    return (
        '<section id="comparison"><h2>Network and artifact across the domain</h2>'
        + "".join(parts)
        + "</section>"
    )


def _searches(report: ReportData) -> str:
    from nnc.passes.selection import REGRESSION_DATA

    parts = []
    for record in report.passes:
        for search in record.data.get(REGRESSION_DATA, ()):
            if not search["front"]:
                continue
            where = f"module {search['module']}, " if "module" in search else ""
            title = f"{record.name}: {where}output {search['output']}"
            chosen = search.get("chosen")
            rows = [
                [
                    _cell(c["complexity"], True),
                    _cell(f"{c['rel_rmse']:.2e}", True),
                    _cell(f"{c['max_rel_error']:.2e}", True),
                    f"<td><code>{_e(c['formula'])}</code></td>",
                ]
                for c in search["front"]
            ]
            classes = ["chosen" if k == chosen else "" for k in range(len(rows))]
            verdict = (
                "the highlighted candidate was chosen"
                if chosen is not None
                else "no candidate passed the gate: the network was kept"
            )
            parts.append(
                f"<h3>{_e(title)}</h3><p>{search['candidates']} candidates in "
                f"{search['seconds']:.1f} s, measured on {search['validation_samples']:,} "
                f"validation samples; {verdict}.</p>"
                + _image(figure_bytes(pareto_figure(search, report.gate)), f"Pareto front {title}")
                + _table(["complexity", "rel RMSE", "max rel error", "formula"], rows, classes)
            )
    if not parts:
        return ""
    gate = report.gate
    rule = (
        f"The gate: rel RMSE ≤ {gate['rmse']:g} and max rel error ≤ {gate['max']:g} on the "
        "validation samples; among the candidates that pass, auto mode keeps the best trade-off "
        "of size and error only when it is a law (simple constants, the network's own error); "
        "with approximations allowed, the simplest that fits nearly as well as the best."
        if gate
        else ""
    )
    return (
        '<section id="search"><h2>How each formula was chosen</h2>'
        f"<p>{_e(rule)}</p>" + "".join(parts) + "</section>"
    )


def _evidence(report: ReportData) -> str:
    parts = []
    for record in report.passes:
        for key, (title, draw, caption) in EVIDENCE_FIGURES.items():
            data = record.data.get(key)
            if data:
                parts.append(
                    f"<h3>{_e(title)} ({_e(record.name)})</h3><p>{_e(caption(data))}</p>"
                    + _image(figure_bytes(draw(data)), title)
                )
        automaton = record.data.get("automaton")
        if automaton:
            parts.append(_automaton(automaton, record.name))
    if not parts:
        analysed = ", ".join(sorted({*EVIDENCE_FIGURES, "automaton"}))
        parts.append(
            f"<p>No mechanism evidence was recorded for this model (analyses that report here: "
            f"{_e(analysed)}).</p>"
        )
    return '<section id="evidence"><h2>Mechanism evidence</h2>' + "".join(parts) + "</section>"


def _automaton(automaton: dict[str, Any], found_by: str) -> str:
    """An extracted automaton: verdict, checks, transitions, a drawing (Graphviz), its DOT."""
    headline, checks = automaton_lines(automaton)
    drawing = render_dot(automaton["dot"])
    return (
        f"<h3>Finite automaton ({_e(found_by)})</h3><p>{_e(headline)}</p>"
        + "<ul>"
        + "".join(f"<li>{_e(check)}</li>" for check in checks)
        + "</ul>"
        + f"<pre>{_e(automaton['table'])}</pre>"
        + (_image(drawing, "the automaton") if drawing else "")
        + f"<details><summary>Graphviz DOT</summary><pre>{_e(automaton['dot'])}</pre></details>"
    )


def _graphs(report: ReportData) -> str:
    before, after = report.curves.graph_before, report.curves.graph_after
    if before is None or after is None:
        return ""
    figures = []
    for graph, caption in ((before, "traced network"), (after, "after the passes")):
        figures.append(
            f"<figure>{_image(graph_svg(graph), caption)}"
            f"<figcaption>{_e(caption)}: {len(graph)} nodes, "
            f"{graph.parameter_count():,} parameters</figcaption></figure>"
        )
    return (
        '<section id="graphs"><h2>The graph before and after the passes</h2>'
        f'<div class="graphs">{"".join(figures)}</div></section>'
    )


def _passes(report: ReportData) -> str:
    rows = []
    for r in report.passes:
        notes = "<br>".join(_e(n) for n in r.notes)
        rows.append(
            [
                _cell(r.name),
                _cell(change_text(*r.nodes), True),
                _cell(change_text(*r.params), True),
                _cell(change_text(*r.flops), True),
                _cell(pass_error_text(r), True),
                _cell(seconds_text(r.seconds), True),
                f"<td>{notes}</td>",
            ]
        )
    header = ["pass", "ops", "parameters", "flops/sample", "vs network after", "time", "notes"]
    return '<section id="passes"><h2>Passes</h2>' + _table(header, rows) + "</section>"


def _size(report: ReportData) -> str:
    if not report.size:
        return ""
    network, artifact = report.size["network"], report.size["artifact"]
    rows = [
        [_cell(label), _cell(f"{network[key]:,}", True), _cell(f"{artifact[key]:,}", True)]
        for key, label in (
            ("ops", "operations"),
            ("params", "parameters"),
            ("flops", "flops/sample"),
        )
    ]
    speed = report.speed
    note = ""
    if speed is not None:
        rows.append(
            [
                _cell("time per sample"),
                _cell(seconds_text(speed.per_sample(speed.network_seconds)), True),
                _cell(seconds_text(speed.per_sample(speed.artifact_seconds)), True),
            ]
        )
        note = (
            f"<p>Time: one batch of {speed.points:,} verification points from Python, measured "
            "once during the compile (the network in torch, eager).</p>"
        )
    return (
        '<section id="size"><h2>Size and speed</h2>'
        + _table(["", "network", "artifact"], rows)
        + note
        + "</section>"
    )


def _timing(report: ReportData) -> str:
    stages = ", ".join(f"{k} {seconds_text(v)}" for k, v in report.seconds.items())
    return f"Compile time {seconds_text(sum(report.seconds.values()))}: {stages}."
