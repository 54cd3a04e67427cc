"""Ratios and the issue's targets, each computed from two figures measured in the same run.

A ratio is numerator median / denominator median; a record keeps both medians so that anyone (and
tests/test_benchmarks.py) can recompute it. Targets are reported, never asserted.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .peak import L2_READ, WEIGHTS_READ

__all__ = [
    "BASELINE",
    "COLUMN_KINDS",
    "CTYPES_SCALAR",
    "ENTRY",
    "EXACT_NETWORKS",
    "HAND_INLINE",
    "INT32_LOOP",
    "INT64_LOOP",
    "NATIVE",
    "NNC_INLINE",
    "SCALAR",
    "column_ratios",
    "difference",
    "evaluate_targets",
    "l2_bound_ns",
    "ratio",
    "weights_read_ns",
    "workload_ratios",
]

BASELINE = "nnc C"  # the compiled library called from a C loop
NATIVE = "nnc C typed"  # its rows in the network's own types (float32, int64), when it has them
ONE_THREAD, TWO_THREADS = "nnc C threads=1", "nnc C threads=2"
FLOOR = "ctypes abs()"
KINDS = ("single", "batch")
ENTRY = "nnc _batch_i32"  # the typed column entry called from a C loop (issue 7)
INT64_LOOP = "hand int64 %"  # hand-written column loops it is held to
INT32_LOOP = "hand int32 cmp-sub"
COLUMN_KINDS = ("cache", "memory")  # pairs per call that stay in cache, that stream from memory
SCALAR = "nnc art.scalar"  # the scalar entry called from Python (issue 12)
CTYPES_SCALAR = "ctypes scalar"  # the same entry through ctypes: why nnc calls through cffi
NNC_INLINE = "nnc inline"  # NAME_inline from the header, in a C loop (issue 12)
HAND_INLINE = "hand inline"  # the same expression written by hand in that program
COMPILE_SECONDS = {"grokking": 10.0, "law MLP exact": 30.0, "law MLP auto": 30.0}  # issue 6
# issue 12: the exact-mode networks, and the latency bounds each is held to
EXACT_NETWORKS = ("law MLP exact", "784-256-256-10", "LeNet-5", "grokking exact")
L2_BOUND_FACTOR = {"784-256-256-10": 1.5}  # one sample from C within this factor of the L2 bound


@dataclass(frozen=True)
class Target:
    """`numerator / denominator` (medians of `kind`) must be ≤ bound (upper) or ≥ bound."""

    text: str
    numerator: str
    denominator: str
    kind: str
    bound: float
    upper: bool
    needs: str  # "closed form", "exact" or "" (every workload)
    unit: str = "x"  # "x": a ratio; " s" or " ns": a figure itself, or over the denominator's
    workloads: tuple[str, ...] = ()  # only these workloads (empty: every one `needs` admits)


TARGETS = (
    Target(
        "closed form, C batch loop within 1.2x of hand-written C",
        "nnc C",
        "hand C",
        "batch",
        1.2,
        True,
        "closed form",
    ),
    Target(
        "closed form, scalar entry from C within 1.1x of hand-written C",
        "nnc C scalar",
        "hand C scalar",
        "single",
        1.1,
        True,
        "closed form",
    ),
    Target(
        "Python scalar call (art.scalar) within 2.5x of a bare ctypes call",
        SCALAR,
        FLOOR,
        "single",
        2.5,
        True,
        "closed form",
    ),
    Target(
        "Python one sample (art(x)) at most 1 us over the C call",
        "nnc art(x)",
        BASELINE,
        "single",
        1000.0,
        True,
        "",
        " ns",
    ),
    Target(
        "Python one sample (nnc.load) at most 1 us over the C call",
        "nnc.load",
        BASELINE,
        "single",
        1000.0,
        True,
        "",
        " ns",
    ),
    Target(
        "Python batch (art(x)) within 1.2x of the C loop",
        "nnc art(x)",
        BASELINE,
        "batch",
        1.2,
        True,
        "",
    ),
    Target(
        "Python batch (nnc.load) within 1.2x of the C loop",
        "nnc.load",
        BASELINE,
        "batch",
        1.2,
        True,
        "",
    ),
    Target(
        "exact mode batch-1 latency >=10x lower than torch eager",
        "torch",
        BASELINE,
        "single",
        10.0,
        False,
        "exact",
    ),
    Target(
        "exact mode batch-1 latency >=10x lower than ONNX Runtime",
        "onnxruntime",
        BASELINE,
        "single",
        10.0,
        False,
        "exact",
    ),
    Target(
        "exact mode batch throughput >= ONNX Runtime (1 thread)",
        "onnxruntime",
        BASELINE,
        "batch",
        1.0,
        False,
        "exact",
    ),
)
TARGETS += (  # issue 12: one thread, exact mode, from C, rows in the network's types
    Target(
        "(#12) exact, C batch throughput >= torch eager",
        "torch",
        NATIVE,
        "batch",
        1.0,
        False,
        "",
        workloads=EXACT_NETWORKS,
    ),
    Target(
        "(#12) exact, C batch throughput >= 0.8x ONNX Runtime",
        "onnxruntime",
        NATIVE,
        "batch",
        0.8,
        False,
        "",
        workloads=EXACT_NETWORKS,
    ),
    Target(
        "(#12) exact, C one-sample latency >= 10x below torch eager",
        "torch",
        NATIVE,
        "single",
        10.0,
        False,
        "",
        workloads=("law MLP exact", "grokking exact"),
    ),
    Target(
        "(#12) exact, C one-sample latency >= 2x below ONNX Runtime",
        "onnxruntime",
        NATIVE,
        "single",
        2.0,
        False,
        "",
        workloads=("784-256-256-10",),
    ),
    Target(
        "(#12) exact, C one-sample latency >= 1.5x below ONNX Runtime",
        "onnxruntime",
        NATIVE,
        "single",
        1.5,
        False,
        "",
        workloads=("LeNet-5",),
    ),
    Target(
        "(#12) exact, threaded C batch: 2 threads >= 1.8x one (wall clock)",
        ONE_THREAD,
        TWO_THREADS,
        "batch",
        1.8,
        False,
        "",
        workloads=("784-256-256-10",),
    ),
)


INLINE_TARGET = Target(  # issue 12: what a C caller gets by including the header
    "inline closed form in a C loop within 1.1x of the same expression by hand",
    NNC_INLINE,
    HAND_INLINE,
    "batch",
    1.1,
    True,
    "closed form",
)
COLUMN_TARGETS = (  # issue 7, on the pairs that stay in cache
    Target(
        "typed column entry _batch_i32 <= 0.25 ns/sample (in cache)",
        ENTRY,
        "",
        "cache",
        0.25,
        True,
        "",
        " ns",
    ),
    Target(
        "typed column entry faster than the int64 % loop (in cache)",
        ENTRY,
        INT64_LOOP,
        "cache",
        1.0,
        True,
        "",
    ),
    Target(
        "typed column entry within 1.2x of int32 cmp-subtract (in cache)",
        ENTRY,
        INT32_LOOP,
        "cache",
        1.2,
        True,
        "",
    ),
)


def ratio(
    record: dict[str, Any], numerator: str, denominator: str, kind: str
) -> dict[str, Any] | None:
    """numerator's median / denominator's median for `kind`, or None if either was not measured."""
    top = (record["runtimes"].get(numerator) or {}).get(kind)
    bottom = (record["runtimes"].get(denominator) or {}).get(kind)
    if top is None or bottom is None:
        return None
    return {
        "name": f"{numerator} / {denominator}",
        "kind": kind,
        "numerator": numerator,
        "denominator": denominator,
        "numerator_median": top["median"],
        "denominator_median": bottom["median"],
        "value": top["median"] / bottom["median"],
    }


def difference(found: dict[str, Any]) -> dict[str, Any]:
    """A ratio's numerator median - its denominator median: what one costs over the other."""
    name = f"{found['numerator']} - {found['denominator']}"
    return {**found, "name": name, "value": found["numerator_median"] - found["denominator_median"]}


def workload_ratios(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Every runtime against nnc's C loop, nnc against hand-written C, Python against ctypes."""
    pairs = [(name, BASELINE) for name in record["runtimes"] if name not in (BASELINE, FLOOR)]
    if NATIVE in record["runtimes"]:
        pairs += [(name, NATIVE) for name in record["runtimes"] if name not in (NATIVE, FLOOR)]
    pairs += [(ONE_THREAD, TWO_THREADS)]
    pairs += [
        ("nnc C", "hand C"),
        ("nnc C scalar", "hand C scalar"),
        ("nnc art(x)", FLOOR),
        ("nnc.load", FLOOR),
        (SCALAR, FLOOR),
        (CTYPES_SCALAR, FLOOR),
    ]
    found = (ratio(record, top, bottom, kind) for top, bottom in pairs for kind in KINDS)
    return [r for r in found if r is not None]


def column_ratios(columns: dict[str, Any]) -> list[dict[str, Any]]:
    """Every hand-written loop against the typed entry, and the entry against each (the targets)."""
    others = [name for name in columns["runtimes"] if name != ENTRY]
    pairs = [(name, ENTRY) for name in others] + [(ENTRY, name) for name in others]
    found = (ratio(columns, top, bottom, kind) for top, bottom in pairs for kind in COLUMN_KINDS)
    return [r for r in found if r is not None]


def evaluate_targets(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target on each workload it applies to: measured value, bound, met, and by how much."""
    results = []
    for record in records:
        name = record["name"]
        for target in TARGETS:
            if target.needs == "exact" and record["compile"]["mode"] != "exact":
                continue
            if target.workloads and name not in target.workloads:
                continue
            target = _native_or_baseline(target, record)
            found = next(
                (
                    r
                    for r in record["ratios"]
                    if r["numerator"] == target.numerator
                    and r["denominator"] == target.denominator
                    and r["kind"] == target.kind
                ),
                None,
            )
            if found is not None and target.unit == " ns":
                found = difference(found)
            if found is None:
                if target.needs != "closed form":  # (closed-form targets need a hand-written C)
                    results.append(
                        _verdict(
                            target,
                            name,
                            None,
                            f"not measured: no {target.numerator} or {target.denominator} figure",
                        )
                    )
            elif target.needs == "closed form" and record["compile"]["closed_form"] is None:
                results.append(
                    _verdict(
                        target,
                        name,
                        found,
                        "no closed form yet: the figure times the faithful network",
                        counts=False,
                    )
                )
            else:
                results.append(_verdict(target, name, found))
        if name in COMPILE_SECONDS:
            target = Target(
                f"compile time of {name} < {COMPILE_SECONDS[name]:g} s",
                "",
                "",
                "",
                COMPILE_SECONDS[name],
                True,
                "",
                " s",
            )
            results.append(
                _verdict(
                    target,
                    name,
                    {"name": "nnc.compile seconds", "value": record["compile"]["seconds"]},
                )
            )
        if name in L2_BOUND_FACTOR:
            results.append(_l2_verdict(record, L2_BOUND_FACTOR[name]))
        if record.get("inline") is not None:
            results.append(_inline_verdict(name, record["inline"]))
        if record.get("columns") is not None:
            results += [
                _column_verdict(target, name, record["columns"]) for target in COLUMN_TARGETS
            ]
    return results


def _native_or_baseline(target: Target, record: dict[str, Any]) -> Target:
    """A target on the typed rows, held on the double rows when the library has no typed ones
    (a float64 network)."""
    if NATIVE in (target.numerator, target.denominator) and NATIVE not in record["runtimes"]:
        swap = {NATIVE: BASELINE}
        return dataclasses.replace(
            target,
            numerator=swap.get(target.numerator, target.numerator),
            denominator=swap.get(target.denominator, target.denominator),
        )
    return target


def l2_bound_ns(record: dict[str, Any]) -> float | None:
    """One sample's time if its weights stream from L2 once: weight bytes ÷ the L2 read bandwidth
    measured in the same rounds (GB/s = bytes/ns); None without the machine's figures."""
    machine = record.get("machine")
    if not machine:
        return None
    return record["weight_bytes"] / machine[L2_READ]["median"]


def weights_read_ns(record: dict[str, Any]) -> float | None:
    """One read of the weight bytes by the peak read loop, in the same rounds: no one-sample
    code that reads its weights goes faster; above the L2 bound where they do not fit in L2."""
    machine = record.get("machine")
    if not machine or WEIGHTS_READ not in machine:
        return None
    return record["weight_bytes"] / machine[WEIGHTS_READ]["median"]


def _l2_verdict(record: dict[str, Any], factor: float) -> dict[str, Any]:
    """nnc C's one-sample time ÷ the L2 bound, held to `factor`."""
    target = Target(
        f"(#12) exact, C one-sample latency within {factor:g}x of the L2 bound",
        BASELINE,
        "",
        "single",
        factor,
        True,
        "",
    )
    bound = l2_bound_ns(record)
    runtime = NATIVE if NATIVE in record["runtimes"] else BASELINE
    nnc = (record["runtimes"].get(runtime) or {}).get("single")
    if bound is None or nnc is None:
        return _verdict(target, record["name"], None, "not measured: no nnc C or L2 figure")
    source = {"name": f"{runtime} / L2 bound", "value": nnc["median"] / bound}
    read = weights_read_ns(record)
    note = (
        ""
        if read is None
        else f"a bare read of the weights takes {read:.0f} ns here, {read / bound:.2f}x the L2 "
        f"bound; {runtime} is {nnc['median'] / read:.2f}x that read"
    )
    return _verdict(target, record["name"], source, note)


def _inline_verdict(workload: str, inline: dict[str, Any]) -> dict[str, Any]:
    if "skipped" in inline:
        return _verdict(INLINE_TARGET, workload, None, f"not measured: {inline['skipped']}")
    return _verdict(INLINE_TARGET, workload, inline["ratios"][0])


def _column_verdict(target: Target, workload: str, columns: dict[str, Any]) -> dict[str, Any]:
    """A column target from the typed entry's median, or from its ratio to a hand-written loop."""
    if "skipped" in columns:
        return _verdict(target, workload, None, f"not measured: {columns['skipped']}")
    if target.denominator:
        return _verdict(
            target, workload, ratio(columns, target.numerator, target.denominator, target.kind)
        )
    median = columns["runtimes"][target.numerator][target.kind]["median"]
    return _verdict(target, workload, {"name": f"{target.numerator} ns/sample", "value": median})


def _verdict(
    target: Target,
    workload: str,
    source: dict[str, Any] | None,
    note: str = "",
    counts: bool = True,
) -> dict[str, Any]:
    """factor > 1: missed by that factor; met is None where not measured or not applicable yet."""
    measured = source["value"] if source else None
    factor = (
        None
        if measured is None
        else (measured / target.bound if target.upper else target.bound / measured)
    )
    return {
        "target": target.text,
        "workload": workload,
        "measured": measured,
        "from": source["name"] if source else None,
        "kind": target.kind or None,
        "bound": target.bound,
        "unit": target.unit,
        "relation": "<=" if target.upper else ">=",
        "factor": factor,
        "met": factor <= 1.0 if factor is not None and counts else None,
        "note": note,
    }
