"""The summary a compile prints, each fact once: what every output became and its error against the
network on the verified domain, size and speed of network vs artifact, what each pass did, and
where the time went. Rendered with rich: colour on a terminal, plain text otherwise."""

from __future__ import annotations

import io
from typing import Any

from .report_data import KINDS, OutputResult, ReportData

__all__ = ["change_text", "pass_error_text", "plain_text", "print_summary", "seconds_text"]

SKIPPED = "skipped: "  # how passes begin the note that says why they did nothing


def print_summary(report: ReportData, console: Any, pretty: bool = True) -> None:
    """Print the summary on a rich Console; `pretty`: formulas in two dimensions."""
    for k, part in enumerate(_parts(report, pretty)):
        if k > 1:
            console.print()
        console.print(part)


def plain_text(report: ReportData, width: int = 100) -> str:
    """The summary as plain text: no colour, formulas on one line."""
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, force_terminal=False)
    print_summary(report, console, pretty=False)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


def seconds_text(seconds: float) -> str:
    """A duration in the unit that shows its digits: 12.3 s, 41 ms, 380 µs, 5.2 ns."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            value = seconds / scale
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    value = seconds / 1e-9
    return f"{value:.2g} ns" if value < 100 else f"{value:.0f} ns"


def _parts(report: ReportData, pretty: bool) -> list[Any]:
    from rich.text import Text

    parts: list[Any] = [
        Text.assemble(
            ("nnc ", "bold"),
            f"mode {report.mode} · output {report.output} · inputs ",
            (", ".join(report.inputs) or "?", "cyan"),
        ),
        _results(report, pretty),
    ]
    parts += _disagreements(report)
    if report.truth:
        parts.append(Text("\n".join(report.truth_lines())))
    if report.size:
        parts.append(_size_and_speed(report))
    if report.passes:
        parts += _passes(report)
    if report.fanout_text():
        parts.append(Text(report.fanout_text(), style="dim"))
    parts.append(_timing(report))
    return parts


def _results(report: ReportData, pretty: bool) -> Any:
    """The verdict, then one row per output: what it became, and its error against the network."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    f = report.fidelity
    verdict = Text("passed", style="green") if f.passed else Text("FAILED", style="bold red")
    line = Text.assemble(
        f"verified on {report.domain_text()}: ", verdict, f" ({report.requirement_text()})"
    )
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("output", style="bold")
    table.add_column("result")
    table.add_column("what it is")
    table.add_column("against the network")
    for result in report.outputs:
        table.add_row(
            result.name,
            _formula(result, pretty),
            KINDS[result.kind] + (f" ({result.found_by})" if result.found_by else ""),
            result.errors_text(),
        )
    if not report.outputs:
        table.add_row("", report.closed_form or "(the network)", "", f.summary())
    return Group(line, table)


def _formula(result: OutputResult, pretty: bool) -> str:
    if result.kind == "network":
        return "(the network)"
    if pretty and result.expr is not None:
        import sympy

        return sympy.pretty(result.expr, use_unicode=True)
    return result.formula or ""


def _disagreements(report: ReportData) -> list[Any]:
    from rich.text import Text

    shown = report.fidelity.disagreements[:10]
    if not shown:
        return []
    lines = [f"  {point}: {network} → {artifact}" for point, network, artifact in shown]
    more = len(report.fidelity.disagreements) - len(shown)
    if more:
        lines.append(f"  … and {more} more (all in --json and the report)")
    return [Text("disagreements (input: network → artifact):\n" + "\n".join(lines))]


def _size_and_speed(report: ReportData) -> Any:
    from rich import box
    from rich.table import Table

    speed = report.speed
    caption = None
    if speed is not None:
        caption = f"time: one batch of {speed.points:,}, from Python"
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, caption=caption, caption_justify="left")
    table.add_column("size and speed")
    table.add_column("network", justify="right")
    table.add_column("artifact", justify="right")
    network, artifact = report.size["network"], report.size["artifact"]
    for key, label in (("ops", "operations"), ("params", "parameters"), ("flops", "flops/sample")):
        table.add_row(label, f"{network[key]:,}", f"{artifact[key]:,}")
    if speed is not None:
        table.add_row(
            "time/sample",
            seconds_text(speed.per_sample(speed.network_seconds)) + " (torch)",
            seconds_text(speed.per_sample(speed.artifact_seconds)),
        )
    return table


def _passes(report: ReportData) -> list[Any]:
    """The pass table, then what each pass noted (skipped passes on one line)."""
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for name in ("pass", "ops", "parameters", "flops/sample", "vs network after", "time"):
        table.add_column(name, justify="left" if name == "pass" else "right")
    notes = Table.grid(padding=(0, 2))
    notes.add_column(style="bold")
    notes.add_column()
    skipped = []
    for r in report.passes:
        table.add_row(
            r.name,
            change_text(*r.nodes),
            change_text(*r.params),
            change_text(*r.flops),
            pass_error_text(r),
            seconds_text(r.seconds),
        )
        said = [n for n in r.notes if not n.startswith(SKIPPED)]
        skipped += [f"{r.name} ({n[len(SKIPPED) :]})" for n in r.notes if n.startswith(SKIPPED)]
        if r.stats:
            said.append("counts: " + ", ".join(f"{what} {n:,}" for what, n in r.stats.items()))
        for k, note in enumerate(said):
            notes.add_row(r.name if k == 0 else "", note)
    if skipped:
        notes.add_row("skipped", "; ".join(skipped))
    return [table, notes]


def pass_error_text(record: Any) -> str:
    """How far the graph was from the network after a pass that may approximate: max rel error
    of the values (the scores, under a decision head) and the decisions that still agree."""
    f = record.fidelity
    if f is None:
        return "—"
    parts = [] if f.max_rel is None else [f"{f.max_rel:.2g}"]
    if f.agreement is not None:
        parts.append(f"{f.agreement:,}/{f.points:,} agree")
    return ", ".join(parts)


def change_text(before: int, after: int) -> str:
    return f"{before:,}" if before == after else f"{before:,} → {after:,}"


def _timing(report: ReportData) -> Any:
    from rich.text import Text

    points = f"{report.fidelity.points:,} points"
    said = {
        "reference": f" (network on {points})",
        "verify": f" (artifact on {points})",
        "compare": " (per output, sweeps, timing)",
    }
    stages = ", ".join(
        f"{name} {seconds_text(value)}{said.get(name, '')}"
        for name, value in report.seconds.items()
    )
    total = sum(report.seconds.values())
    return Text(f"compile time {seconds_text(total)}: {stages}", style="dim")
