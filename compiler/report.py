"""What a compile did, as text for people and JSON for machines; every figure in it was measured."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .automaton import render_png
from .fidelity import Fidelity
from .pipeline import PassRecord

__all__ = ["Report"]


@dataclass
class Report:
    """Pass records, verification figures and stage timings of one compile."""

    mode: str
    output: str
    passes: list[PassRecord]
    fidelity: Fidelity
    seconds: dict[str, float] = field(default_factory=dict)  # stage → wall time
    graph: dict[str, int] = field(default_factory=dict)  # final ops and parameters
    closed_form: str | None = None  # the formula (or table) the output became, if any
    truth: dict[str, Any] | None = None  # errors against labelled data, when given

    def text(self) -> str:
        lines = [f"closed form: {self.closed_form}"] if self.closed_form else []
        lines += [
            f"mode {self.mode}, output {self.output}: {self.graph.get('ops', 0)} ops, "
            f"{self.graph.get('params', 0):,} parameters"
        ]
        if self.passes:
            lines.append(
                f"  {'pass':<10} {'changed':<8} {'ops':<14} {'parameters':<24} "
                f"{'flops/sample':<24} time"
            )
            for r in self.passes:
                stats = ", ".join(f"{k} {v}" for k, v in r.stats.items())
                ops = f"{r.nodes[0]} → {r.nodes[1]}"
                params = f"{r.params[0]:,} → {r.params[1]:,}"
                work = f"{r.flops[0]:,} → {r.flops[1]:,}"
                changed = "yes" if r.changed else "no"
                lines.append(
                    f"  {r.name:<10} {changed:<8} {ops:<14} {params:<24} {work:<24} "
                    f"{r.seconds:.3f} s  {stats}".rstrip()
                )
                lines.extend(f"    {note}" for note in r.notes)
        lines.append(self.fidelity.summary())
        if self.fidelity.disagreements:
            lines.append("disagreements (input: network → artifact):")
            lines.extend(
                f"  {point}: {network} → {artifact}"
                for point, network, artifact in self.fidelity.disagreements
            )
        if self.truth and "network_wrong" in self.truth:
            t = self.truth
            lines.append(
                f"against the labelled data ({t['points']} points): the network decides "
                f"{t['network_wrong']} wrong, the artifact {t['artifact_wrong']}"
            )
            lines.extend(f"  network wrong on {p}" for p in t["network_wrong_inputs"])
            lines.extend(f"  artifact wrong on {p}" for p in t["artifact_wrong_inputs"])
        elif self.truth:
            t = self.truth
            lines.append(
                f"against the labelled data: network max rel error "
                f"{t['network_max_rel_error']:.3g} (RMSE {t['network_rmse']:.3g}), "
                f"artifact {t['artifact_max_rel_error']:.3g} (RMSE {t['artifact_rmse']:.3g})"
            )
        stages = ", ".join(f"{k} {v:.2f} s" for k, v in self.seconds.items())
        lines.append(f"compile time: {stages}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "output": self.output,
            "closed_form": self.closed_form,
            "truth": self.truth,
            "graph": self.graph,
            "passes": [
                {
                    "name": r.name,
                    "changed": r.changed,
                    "ops": list(r.nodes),
                    "params": list(r.params),
                    "flops": list(r.flops),
                    "seconds": r.seconds,
                    "stats": r.stats,
                    "approximate": r.approximate,
                    "notes": r.notes,
                    "data": r.data,
                }
                for r in self.passes
            ],
            "verification": self.fidelity.to_json(),
            "seconds": self.seconds,
        }

    def write_markdown(self, path: Path) -> Path:
        """A Markdown report for people, with a plot of each measured series (matplotlib, when
        installed) written beside it."""
        lines = ["# nnc report", ""]
        if self.closed_form:
            lines += [f"**Closed form:** `{self.closed_form}`", ""]
        lines += [
            f"**Verification:** {self.fidelity.summary()}",
            "",
            f"Mode `{self.mode}`, output `{self.output}`; {self.graph.get('ops', 0)} ops, "
            f"{self.graph.get('params', 0):,} parameters in the result.",
            "",
            "| pass | changed | ops | parameters | flops/sample | time | notes |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in self.passes:
            notes = "<br>".join(n.replace("|", "\\|").replace("\n", "<br>") for n in r.notes)
            lines.append(
                f"| {r.name} | {'yes' if r.changed else 'no'} | {r.nodes[0]} → "
                f"{r.nodes[1]} | {r.params[0]:,} → {r.params[1]:,} | {r.flops[0]:,} → {r.flops[1]:,} "
                f"| {r.seconds:.3f} s "
                f"| {notes} |"
            )
        for r in self.passes:
            spectrum = r.data.get("embedding spectrum")
            if spectrum:
                picture = _plot_spectrum(spectrum, path.with_name(path.stem + "-spectrum.png"))
                lines += [
                    "",
                    "## Fourier spectrum of the token embedding",
                    "",
                    f"Key frequencies: {spectrum['key frequencies']}.",
                    "",
                ]
                if picture:
                    lines.append(f"![embedding spectrum]({picture.name})")
        for r in self.passes:
            if r.data.get("automaton"):
                lines += _automaton_section(r.data["automaton"], path)
        if self.fidelity.disagreements:
            lines += ["", "## Disagreements (input: network → artifact)", ""]
            lines += [f"- {p}: {n} → {a}" for p, n, a in self.fidelity.disagreements]
        lines += [
            "",
            "Compile time: " + ", ".join(f"{k} {v:.2f} s" for k, v in self.seconds.items()),
            "",
        ]
        path.write_text("\n".join(lines))
        return path


def _automaton_section(automaton: dict[str, Any], path: Path) -> list[str]:
    """The extracted automaton: verdict, checks, transitions, a regular expression, a drawing."""
    verdict = "compiled" if automaton["accepted"] else f"not used: {automaton['reason']}"
    lines = [
        "",
        "## Finite automaton",
        "",
        f"{automaton['states']} states over {automaton['alphabet']} ({verdict}).",
        "",
    ]
    if automaton["regex"]:
        lines += [f"Strings it accepts: `{automaton['regex']}`", ""]
    for check in automaton["checks"]:
        how = "every string" if check["complete"] else f"{check['strings']} sampled strings"
        lines.append(
            f"- {how} of length {check['lengths'][0]}..{check['lengths'][1]}: agrees with the "
            f"network on {check['agreement']}/{check['strings']}"
        )
        lines += [f"  - {s}: network {n}, automaton {a}" for s, n, a in check["disagreements"]]
    lines += ["", "```", automaton["table"], "```", ""]
    picture = render_png(automaton["dot"], path.with_name(path.stem + "-automaton.png"))
    if picture:
        lines.append(f"![automaton]({picture.name})")
    lines += [
        "",
        "<details><summary>Graphviz DOT</summary>",
        "",
        "```dot",
        automaton["dot"],
        "```",
        "",
        "</details>",
    ]
    return lines


def _plot_spectrum(spectrum: dict[str, Any], path: Path) -> Path | None:
    """Bar chart of the embedding's norm per frequency, key frequencies highlighted."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    share = spectrum["share"]
    keys = set(spectrum["key frequencies"])
    figure, axis = plt.subplots(figsize=(9, 3))
    axis.bar(
        range(1, len(share)),
        share[1:],
        color=["tab:red" if k in keys else "tab:gray" for k in range(1, len(share))],
    )
    axis.set(
        xlabel=f"frequency k (over {spectrum['tokens']} tokens)",
        ylabel="share of embedding norm",
        title="token embedding spectrum (key in red)",
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
