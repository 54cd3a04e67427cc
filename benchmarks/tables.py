"""Plain-text tables of a results dict: one per workload, the targets, the scaling sweeps."""

from __future__ import annotations

from typing import Any

from .analysis import (
    BASELINE,
    COLUMN_KINDS,
    ENTRY,
    HAND_INLINE,
    l2_bound_ns,
    weights_read_ns,
)
from .peak import FMA_F32, FMA_F64, L2_READ, WEIGHTS_READ

__all__ = [
    "columns_table",
    "inline_table",
    "machine_text",
    "scaling_table",
    "targets_table",
    "workload_table",
]


def machine_text(machine: dict[str, Any]) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
    return (
        f"{machine['cpu']}, {machine['cores']} cores; python {machine['python']}, {versions}; "
        f"{machine['cc'] or 'no cc'}"
    )


def workload_table(record: dict[str, Any]) -> str:
    """Medians and IQRs of every runtime, and its time ÷ nnc C's (same run, same kind)."""
    compiled = record["compile"]
    form = f"closed form {compiled['closed_form']}" if compiled["closed_form"] else "no closed form"
    lines = [
        f"== {record['name']}: mode {compiled['mode']}, {form}; batch {record['batch']:,}",
        f"   {compile_text(compiled)}",
    ]
    lines += _machine_lines(record)
    lines += [f"   note: {note}" for note in record["notes"]]
    lines += [f"   skipped {name}: {reason}" for name, reason in record["skipped"].items()]
    ratios = {
        (r["numerator"], r["kind"]): r["value"]
        for r in record["ratios"]
        if r["denominator"] == BASELINE
    }
    header = (
        f"{'runtime':<14} {'1 sample ns':>12} {'IQR':>9} {'batch ns/sample':>16} {'IQR':>9} "
        f"{'MAC/ns':>7} {'1 ÷ nnc C':>10} {'batch ÷ nnc C':>14}  check vs torch"
    )
    lines += [header, "-" * len(header)]
    for name, figures in record["runtimes"].items():
        cells = []
        for kind in ("single", "batch"):
            summary = figures[kind]
            cells += [_ns(summary["median"]), _ns(summary["iqr"])] if summary else ["—", ""]
        batch = figures["batch"]
        rate = f"{record['multiply_adds'] / batch['median']:.1f}" if batch else ""
        ratio = [_ratio(ratios.get((name, kind))) for kind in ("single", "batch")]
        lines.append(
            f"{name:<14} {cells[0]:>12} {cells[1]:>9} {cells[2]:>16} {cells[3]:>9} {rate:>7} "
            f"{ratio[0]:>10} {ratio[1]:>14}  {_check(figures['check'])}"
        )
    return "\n".join(lines)


def _machine_lines(record: dict[str, Any]) -> list[str]:
    """The work per sample, and the machine's peak measured in the same rounds."""
    work = (
        f"   work: {record['multiply_adds']:,} multiply-adds per sample (torch's count); "
        f"{record['weight_bytes'] / 1e6:.3g} MB of float32 weights"
    )
    lines = [work]
    machine = record.get("machine")
    if machine:
        fma32, fma64, read = (machine[k] for k in (FMA_F32, FMA_F64, L2_READ))
        lines.append(
            f"   machine, same rounds: FMA peak {fma32['median']:.1f} MAC/ns float32 "
            f"(IQR {fma32['iqr']:.1f}), {fma64['median']:.1f} float64, "
            f"{machine['vector_bytes'] * 8}-bit vectors; L2 read {read['median']:.0f} GB/s "
            f"(IQR {read['iqr']:.0f}, {machine['l2_buffer_bytes'] >> 10} KiB); weights ÷ L2 "
            f"read = {_ns(l2_bound_ns(record))} ns per sample (the L2 bound)"
        )
        if WEIGHTS_READ in machine:
            weights = machine[WEIGHTS_READ]
            lines.append(
                f"   a bare read of the {machine['weights_buffer_bytes'] / 1e6:.3g} MB of weights, "
                f"same rounds: {weights['median']:.0f} GB/s (IQR {weights['iqr']:.0f}) = "
                f"{_ns(weights_read_ns(record))} ns per sample"
            )
    return lines


def columns_table(record: dict[str, Any]) -> str:
    """The typed column entry and the hand-written loops: ns/sample, GB/s, time ÷ the entry's."""
    columns = record["columns"]
    title = f"== {record['name']}: typed column entry from C against hand-written C loops (issue 7)"
    if "skipped" in columns:
        return f"{title}\n   skipped: {columns['skipped']}"
    pairs = columns["pairs"]
    lines = [
        title,
        (
            f"   {ENTRY} = {columns['entry']}; {pairs['cache']:,} pairs per call stay in "
            f"cache, {pairs['memory']:,} stream from memory; GB/s = bytes read + written per s"
        ),
    ]
    ratios = {
        (r["numerator"], r["kind"]): r["value"]
        for r in columns["ratios"]
        if r["denominator"] == ENTRY
    }
    header = (
        f"{'runtime':<19} {'pairs':>9} {'bytes/pair':>10} {'ns/sample':>10} {'IQR':>7} "
        f"{'GB/s':>6} {'÷ entry':>8}  check vs closed form"
    )
    lines += [header, "-" * len(header)]
    for kind in COLUMN_KINDS:
        for name, figures in columns["runtimes"].items():
            summary = figures[kind]
            lines.append(
                f"{name:<19} {pairs[kind]:>9,} {figures['bytes_per_pair']:>10} "
                f"{summary['median']:>10.4f} {summary['iqr']:>7.4f} "
                f"{figures['gb_per_s'][kind]:>6.3g} {_ratio(ratios.get((name, kind))):>8}"
                f"  {figures['check'][kind]:.3%} differ"
            )
    return "\n".join(lines)


def inline_table(record: dict[str, Any]) -> str:
    """NAME_inline and the hand-written expression in one C program: ns/sample, time ÷ hand's."""
    inline = record["inline"]
    title = f"== {record['name']}: inline closed form from C against the same expression by hand"
    if "skipped" in inline:
        return f"{title}\n   skipped: {inline['skipped']}"
    lines = [
        title,
        (
            f"   {inline['function']} (header) and {inline['hand']} (hand-written) in one program, "
            f"cc -O3 -march=native; {inline['samples']:,} samples per pass"
        ),
    ]
    ratios = {r["numerator"]: r["value"] for r in inline["ratios"]}
    header = f"{'runtime':<12} {'ns/sample':>10} {'IQR':>7} {'÷ hand':>7}  check vs library"
    lines += [header, "-" * len(header)]
    for name, figures in inline["runtimes"].items():
        summary = figures["batch"]
        lines.append(
            f"{name:<12} {summary['median']:>10.4f} {summary['iqr']:>7.4f} "
            f"{_ratio(ratios.get(name)) if name != HAND_INLINE else '':>7}  "
            f"{_check(figures['check'])}"
        )
    return "\n".join(lines)


def compile_text(compiled: dict[str, Any]) -> str:
    """nnc.compile's wall time, its stages, and the passes inside the `passes` stage."""
    if "error" in compiled:
        return f"not compiled by nnc ({compiled['seconds']:.2f} s): {compiled['error']}"
    passes = ", ".join(f"{p['name']} {p['seconds']:.2f}" for p in compiled["passes"])
    stages = ", ".join(
        f"{name} {seconds:.2f}" + (f" [{passes}]" if name == "passes" else "")
        for name, seconds in compiled["stages"].items()
    )
    return (
        f"compile {compiled['seconds']:.2f} s ({stages}); save .so {compiled['save_seconds']:.2f} s"
    )


def targets_table(targets: list[dict[str, Any]]) -> str:
    header = f"{'target':<66} {'workload':<15} {'measured':>10} {'bound':>10}  verdict"
    lines = [header, "-" * len(header)]
    for t in targets:
        measured = "—" if t["measured"] is None else f"{t['measured']:.3g}{t['unit']}"
        if t["met"] is None:
            verdict = t["note"] or "n/a"
        elif t["met"]:
            verdict = "met"
        else:
            verdict = f"missed by {t['factor']:.3g}x"
        bound = f"{t['relation']} {t['bound']:g}{t['unit']}"
        lines.append(f"{t['target']:<66} {t['workload']:<15} {measured:>10} {bound:>10}  {verdict}")
    return "\n".join(lines)


def scaling_table(rows: list[dict[str, Any]]) -> str:
    header = (
        f"{'sweep':<7} {'value':>9} {'params':>8} {'compile s':>9} {'trace':>6} "
        f"{'reference':>9} {'passes':>6} {'codegen':>7} {'verify':>6} {'nnc C 1 ns':>11} "
        f"{'nnc C ns/sample':>15} {'torch ns/sample':>15} {'torch ÷ nnc C':>13}  "
        "closed form"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        compiled, runtimes = row["compile"], row["runtimes"]
        stages = [
            f"{compiled['stages'].get(s, 0.0):.2f}"
            for s in ("trace", "reference", "passes", "codegen", "verify")
        ]
        nnc, torch = runtimes.get(BASELINE, {}), runtimes.get("torch", {})
        ratio = next(
            (
                r["value"]
                for r in row["ratios"]
                if r["numerator"] == "torch"
                and r["denominator"] == BASELINE
                and r["kind"] == "batch"
            ),
            None,
        )
        lines.append(
            f"{row['sweep']:<7} {row['value']:>9,} {compiled['params'] or 0:>8,} "
            f"{compiled['seconds']:>9.2f} {stages[0]:>6} {stages[1]:>9} {stages[2]:>6} "
            f"{stages[3]:>7} {stages[4]:>6} {_median(nnc, 'single'):>11} "
            f"{_median(nnc, 'batch'):>15} {_median(torch, 'batch'):>15} {_ratio(ratio):>13}  "
            f"{compiled['closed_form'] or '—'}"
        )
    return "\n".join(lines)


def _median(figures: dict[str, Any], kind: str) -> str:
    summary = figures.get(kind)
    return _ns(summary["median"]) if summary else "—"


def _ns(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _ratio(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}x" if value >= 100 else f"{value:.3g}x"


def _check(check: dict[str, Any] | None) -> str:
    if check is None:
        return ""
    if "error" in check:
        return check["error"]
    if "mismatch_share" in check:
        return f"{check['mismatch_share']:.3%} differ"
    return f"max rel diff {check['max_rel_diff']:.1e}"
