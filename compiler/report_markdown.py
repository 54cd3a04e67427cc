"""The Markdown report: result, verification, size and speed, pass table, and the pictures
(matplotlib, when installed) written as PNG files beside it."""

from __future__ import annotations

from pathlib import Path

from .errors import MissingDependencyError
from .report_data import KINDS, ReportData, automaton_lines

__all__ = ["write_markdown"]


def write_markdown(report: ReportData, path: Path) -> Path:
    from .summary import seconds_text

    lines = ["# nnc report", ""]
    if report.closed_form:
        lines += [f"**Closed form:** `{report.closed_form}`", ""]
    lines += [
        f"**Verification:** {report.fidelity.summary()}",
        "",
        f"Mode `{report.mode}`, output `{report.output}`, inputs "
        + ", ".join(f"`{i}`" for i in report.inputs)
        + ".",
        "",
    ]
    if report.outputs:
        lines += ["| output | result | what it is | against the network |", "|---|---|---|---|"]
        for o in report.outputs:
            found = f" ({o.found_by})" if o.found_by else ""
            lines.append(
                f"| {o.name} | `{o.formula or 'the network'}` | {KINDS[o.kind]}{found} "
                f"| {o.errors_text()} |"
            )
        lines.append("")
    if report.size:
        network, artifact = report.size["network"], report.size["artifact"]
        lines += ["| | network | artifact |", "|---|---|---|"]
        for key, label in (("ops", "operations"), ("params", "parameters"), ("flops", "flops")):
            lines.append(f"| {label} | {network[key]:,} | {artifact[key]:,} |")
        if report.speed:
            s = report.speed
            lines.append(
                f"| time/sample (batch of {s.points:,}) | "
                f"{seconds_text(s.per_sample(s.network_seconds))} | "
                f"{seconds_text(s.per_sample(s.artifact_seconds))} |"
            )
        lines.append("")
    lines += [
        "| pass | changed | ops | parameters | flops/sample | time | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report.passes:
        notes = "<br>".join(n.replace("|", "\\|") for n in r.notes)
        lines.append(
            f"| {r.name} | {'yes' if r.changed else 'no'} | {r.nodes[0]} → {r.nodes[1]} "
            f"| {r.params[0]:,} → {r.params[1]:,} | {r.flops[0]:,} → {r.flops[1]:,} "
            f"| {seconds_text(r.seconds)} | {notes} |"
        )
    lines += _pictures(report, path)
    lines += _automata(report, path)
    if report.fidelity.disagreements:
        lines += ["", "## Disagreements (input: network → artifact)", ""]
        lines += [f"- {p}: {n} → {a}" for p, n, a in report.fidelity.disagreements]
    stages = ", ".join(f"{k} {seconds_text(v)}" for k, v in report.seconds.items())
    lines += ["", f"Compile time: {stages}", ""]
    path.write_text("\n".join(lines))
    return path


def _pictures(report: ReportData, path: Path) -> list[str]:
    """Each picture as a PNG beside the report, with its section; none without matplotlib."""
    from .figures import EVIDENCE_FIGURES, figure_bytes, sweep_figure

    try:
        sweep = sweep_figure(report.curves, [o.name for o in report.outputs])
    except MissingDependencyError:
        return []
    lines = []
    if sweep is not None:
        picture = path.with_name(f"{path.stem}-inputs.png")
        picture.write_bytes(figure_bytes(sweep, "png"))
        lines += ["", "## Network and artifact along each input", "", f"![inputs]({picture.name})"]
    for record in report.passes:
        for key, (title, draw, caption) in EVIDENCE_FIGURES.items():
            data = record.data.get(key)
            if data:
                picture = path.with_name(f"{path.stem}-{key.split()[-1]}.png")
                picture.write_bytes(figure_bytes(draw(data), "png"))
                lines += ["", f"## {title}", "", caption(data), "", f"![{key}]({picture.name})"]
    return lines


def _automata(report: ReportData, path: Path) -> list[str]:
    """Each extracted automaton: verdict, checks, transitions, a drawing (Graphviz), its DOT."""
    from .automaton import render_png

    lines = []
    for record in report.passes:
        automaton = record.data.get("automaton")
        if not automaton:
            continue
        headline, checks = automaton_lines(automaton)
        lines += ["", "## Finite automaton", "", headline, ""]
        lines += [f"- {check}" for check in checks]
        lines += ["", "```", automaton["table"], "```", ""]
        picture = render_png(automaton["dot"], path.with_name(f"{path.stem}-automaton.png"))
        if picture:
            lines += [f"![automaton]({picture.name})", ""]
        lines += ["<details><summary>Graphviz DOT</summary>", "", "```dot", automaton["dot"]]
        lines += ["```", "", "</details>"]
    return lines
