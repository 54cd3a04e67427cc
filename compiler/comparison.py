"""The compiled artifact beside the network, computed by the driver for the report: per output what
it became and its error on the verification points, sizes, one timed batch call of each, the two
side by side along every input (sweeps), and — with labels — both against the truth."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from nnc.backends.calling import NativeFunction

from .domain import abi_rows
from .fidelity import decide, default_tolerance, relative_errors
from .graph import Graph, Node
from .ops import Op
from .options import OutputSemantics
from .pipeline import flops, operation_count
from .reference import Reference
from .report_data import Curves, OutputResult, Speed, Sweep
from .spec import InputSpec, Range

__all__ = ["Comparison", "compare", "size_of"]

MAX_SWEEP_ELEMENTS = 8  # sweep each free input element when there are at most this many
SWEEP_POINTS = 101  # values along a continuous element (integer ranges: every value up to 256)
MAX_INTEGER_SWEEP = 256
CURVE_POINTS = 4096  # verification points kept for the report's scatter and confusion pictures
LISTED_LABELS = 10  # wrongly decided labelled inputs listed in the report

Network = Callable[[list[np.ndarray]], np.ndarray]


@dataclass(frozen=True)
class Comparison:
    """What `compare` found: per-output results, speed, curves, and errors against labels."""

    outputs: list[OutputResult]
    speed: Speed
    curves: Curves
    truth: dict[str, Any] | None


def size_of(graph: Graph) -> dict[str, int]:
    """Operations, parameters and arithmetic per sample of a graph."""
    return {"ops": operation_count(graph), "params": graph.parameter_count(), "flops": flops(graph)}


def compare(
    before: Graph,
    graph: Graph,
    native: NativeFunction,
    reference: Reference,
    specs: Sequence[InputSpec],
    semantics: OutputSemantics,
    network: Network,
    labels: tuple[Any, Any] | None = None,
) -> Comparison:
    """Run the artifact on the verification points (timed) and set it beside the network."""
    start = time.perf_counter()
    values = native.run(reference.flat)
    seconds = time.perf_counter() - start
    n = len(reference.network)
    speed = Speed(n, reference.network_seconds, seconds)
    decisions = semantics.kind != "raw" or not graph[graph.outputs[0]].dtype.startswith("float")
    expected = _expected(reference.network, semantics).reshape(n, -1)
    got = values.reshape(n, -1)
    parts = _output_parts(graph, got.shape[1])
    truth_columns, truth = (
        _against_labels(labels, network, native, semantics) if labels else ([], None)
    )
    outputs = []
    for j, part in enumerate(parts):
        measured = _measure_column(got[:, j], expected[:, j], decisions)
        closed = part is not None and part.op in (Op.EXPR, Op.TABLE)
        found_by = part.meta.get("pass") if closed else None
        outputs.append(
            OutputResult(
                _output_name(semantics, j, len(parts)),
                _kind(closed, measured, decisions, n, graph[graph.outputs[0]].dtype),
                n,
                formula=_formula(part) if closed else None,
                expr=part.attrs["expr"] if closed and part.op is Op.EXPR else None,
                found_by=found_by,
                truth=truth_columns[j] if truth_columns else None,
                **measured,
            )
        )
    keep = min(n, CURVE_POINTS)
    curves = Curves(
        _sweeps(specs, network, native, semantics),
        expected[:keep],
        got[:keep],
        decisions,
        before,
        graph,
    )
    return Comparison(outputs, speed, curves, truth)


def _expected(network: np.ndarray, semantics: OutputSemantics) -> np.ndarray:
    """What the artifact must reproduce: the network's values, or its decisions."""
    return decide(network, semantics)[0] if semantics.kind != "raw" else network


def _measure_column(got: np.ndarray, expected: np.ndarray, decisions: bool) -> dict[str, Any]:
    if decisions:
        return {"agreement": int(np.sum(got == expected))}
    errors = relative_errors(got, expected)
    return {
        "max_abs": float(np.abs(got - expected).max()) if len(got) else 0.0,
        "max_rel": errors.max_rel,
        "rel_rmse": errors.rel_rmse,
    }


def _kind(closed: bool, measured: dict[str, Any], decisions: bool, n: int, dtype: str) -> str:
    """network, exact (to float rounding, or every decision equal) or approximate: measured."""
    if not closed:
        return "network"
    if decisions:
        return "exact" if measured["agreement"] == n else "approximate"
    return "exact" if measured["max_rel"] <= default_tolerance(dtype) else "approximate"


def _output_parts(graph: Graph, count: int) -> list[Node | None]:
    """The node computing each output element: the parts of a concatenation, one closed form
    for all, or None where the output is the network's own computation."""
    node = graph[graph.outputs[0]]
    if node.op is Op.CAT and len(node.inputs) == count:
        return [graph[name] for name in node.inputs]
    return [node if node.op in (Op.EXPR, Op.TABLE) else None] * count


def _formula(part: Node) -> str:
    from .closed_form import readable

    if part.op is Op.EXPR:
        return readable(part.attrs["expr"])
    return f"exact lookup table of {part.attrs['table'].numel()} entries"


def _output_name(semantics: OutputSemantics, j: int, count: int) -> str:
    if semantics.kind == "argmax":
        return "class"
    if semantics.kind == "threshold":
        return f"y > {semantics.threshold:g}"
    return "y" if count == 1 else f"y[{j}]"


def _against_labels(
    labels: tuple[Any, Any], network: Network, native: NativeFunction, semantics: OutputSemantics
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The network and the artifact against labelled data, per output column and over all of
    them: max relative error and RMSE of values or — for decisions — how many labels each gets
    wrong, and the first such inputs."""
    inputs, truth = labels
    points = [np.asarray(a) for a in (inputs if isinstance(inputs, (list, tuple)) else [inputs])]
    truth = np.asarray(truth, dtype=np.float64)
    rows = abi_rows(points)
    target_rows = truth.reshape(len(truth), -1)
    values = {
        "network": _expected(network(points), semantics).reshape(len(truth), -1),
        "artifact": native.run(rows).reshape(len(truth), -1),
    }

    def decisions(columns: slice | int) -> dict[str, Any]:
        found: dict[str, Any] = {"points": len(truth)}
        for who, computed in values.items():
            wrong_rows = computed[:, columns] != target_rows[:, columns]
            wrong = np.flatnonzero(wrong_rows.reshape(len(truth), -1).any(axis=1))
            found[f"{who}_wrong"] = len(wrong)
            found[f"{who}_wrong_inputs"] = [_point(rows[i]) for i in wrong[:LISTED_LABELS]]
        return found

    def errors(columns: slice | int) -> dict[str, float]:
        target = target_rows[:, columns]
        scale = float(np.abs(target).max()) or 1.0
        found = {}
        for who, computed in values.items():
            error = computed[:, columns] - target
            found[f"{who}_max_rel_error"] = float(np.abs(error).max()) / scale
            found[f"{who}_rmse"] = float(np.sqrt(np.mean(error**2)))
        return found

    measure = decisions if semantics.kind != "raw" else errors
    return [measure(j) for j in range(target_rows.shape[1])], measure(slice(None))


def _point(row: np.ndarray) -> list[float | int]:
    return [int(v) if float(v).is_integer() else float(v) for v in row]


def _sweeps(
    specs: Sequence[InputSpec], network: Network, native: NativeFunction, semantics: OutputSemantics
) -> list[Sweep]:
    """Network and artifact along each free input element, the others at the middle of their
    domain — when there are few enough elements to draw one picture each."""
    if any(s.calibration is not None for s in specs):
        return []
    constants = np.concatenate([spec.constants() for spec in specs])
    free = [int(k) for k in np.flatnonzero(np.isnan(constants))]
    if not free or len(free) > MAX_SWEEP_ELEMENTS:
        return []
    starts = np.cumsum([0] + [spec.numel for spec in specs])
    owner = {k: int(np.searchsorted(starts, k, side="right")) - 1 for k in free}
    elements = {k: specs[owner[k]].element(k - int(starts[owner[k]])) for k in free}
    integer = {k: specs[owner[k]].integer for k in free}
    base = constants.copy()  # every fixed element at its value, each free one at its middle
    for k in free:
        base[k] = _middle(elements[k].domain, integer[k])
    sweeps = []
    for k in free:
        values = _along(elements[k].domain, integer[k])
        rows = np.tile(base, (len(values), 1))
        rows[:, k] = values
        points = _split(rows, specs)
        expected = _expected(network(points), semantics).reshape(len(values), -1)
        got = native.run(rows).reshape(len(values), -1)
        others = {elements[o].name: float(base[o]) for o in free if o != k}
        sweeps.append(Sweep(elements[k].name, values, expected.astype(float), got, others))
    return sweeps


def _middle(domain: Any, integer: bool) -> float:
    if isinstance(domain, Range):
        middle = (domain.lo + domain.hi) / 2
        return float(np.floor(middle)) if integer else middle
    values = sorted(domain.values)
    return values[len(values) // 2]


def _along(domain: Any, integer: bool) -> np.ndarray:
    if not isinstance(domain, Range):
        return np.array(sorted(domain.values), dtype=np.float64)
    if integer and domain.hi - domain.lo < MAX_INTEGER_SWEEP:
        return np.arange(domain.lo, domain.hi + 1, dtype=np.float64)
    values = np.linspace(domain.lo, domain.hi, SWEEP_POINTS)
    return np.unique(np.round(values)) if integer else values


def _split(rows: np.ndarray, specs: Sequence[InputSpec]) -> list[np.ndarray]:
    """Flat rows (n, input size) → per-input arrays (n, *shape) in each input's dtype."""
    out, start = [], 0
    for spec in specs:
        block = rows[:, start : start + spec.numel].reshape(len(rows), *spec.shape)
        out.append(block.astype(np.dtype("bool" if spec.dtype == "bool" else spec.dtype)))
        start += spec.numel
    return out
