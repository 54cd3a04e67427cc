"""units: a closed form for every unit of a named module's output (or of one node inside it) as a
function of the model's inputs, each verified against the unit under the gate, and the units
grouped by the form they share. Evidence for the report: the graph does not change.

    units=["blocks.0.mlp.relu"]  (--explain-units blocks.0.mlp.relu)
    →  blocks.0.mlp.relu: 512 units of %relu, ReLU units fitted as max(0, form) of %add_6
       form 14·a, 14·b, 14·(a + b) (frequency 14): 40 units: 3, 17–19, …
       no formula within the gate: 12 units: 0, 5, …

A target is a module (its one output node) or MODULE.NODE, a node the module created (the names
`nnc inspect` prints). A unit is one element of the target's per-sample output. A ReLU unit is
fitted through its pre-activation and written max(0, form), verified against the unit itself.
On a domain enumerated completely with integer inputs the search is over sparse Fourier forms of
all free inputs at once (fourier_forms.py); elsewhere each unit is a symbolic regression on
space-filling samples (selection.regress). The driver records the units' values; the searches
run as work units on ctx.fanout (serial, local processes or a cluster: the same forms).
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy
from nnc.closed_form import readable
from nnc.domain import Domain, abi_rows
from nnc.errors import InputError
from nnc.fidelity import Gate, RelativeErrors, relative_errors
from nnc.graph import Graph
from nnc.ops import Op
from nnc.options import Options
from nnc.pipeline import PassContext, register_pass
from nnc.rewrite import remove_dead
from nnc.spec import Range

from .distill import module_nodes
from .fourier_forms import FourierWork, Grid, UnitForm, fourier_forms, written
from .selection import regress

__all__ = ["RegressionWork", "regress_unit", "unit_node", "units"]

UNITS_PER_PIECE = 8  # fewest units in one work unit of the Fourier search
SHOWN_GROUPS = 12  # forms listed in the notes (the evidence keeps every unit)


@register_pass("units", exact=True)
def units(graph: Graph, ctx: PassContext) -> Graph:
    """Find a verified closed form of every unit of the named modules' outputs (analysis)."""
    if not ctx.options.units:
        ctx.note("skipped: no units asked for (units=[...] / --explain-units MODULE)")
        return graph
    for target in ctx.options.units:
        _explain(graph, target, ctx)
    return graph


def unit_node(graph: Graph, target: str) -> str:
    """The node whose elements are the units: a module's one output, or MODULE.NODE."""
    names = {n.name for n in graph.nodes()}
    modules = {n.meta.get("module", "") for n in graph.nodes()} - {""}
    if target in modules:
        members = set(module_nodes(graph, target))
        leaving = [m for m in members if m in graph.outputs or set(graph.users(m)) - members]
        if len(leaving) == 1:
            return leaving[0]
        raise InputError(
            f"module {target!r} has {len(leaving)} outputs, so its units are ambiguous",
            hint="name one of its nodes as MODULE.NODE: "
            + ", ".join(f"{target}.{m}" for m in sorted(leaving)),
        )
    module, _, node = target.rpartition(".")
    if node in names and graph[node].meta.get("module", "") == module:
        return node
    known = sorted(modules) + sorted(
        f"{n.meta['module']}.{n.name}" for n in graph.nodes() if n.meta.get("module")
    )
    close = difflib.get_close_matches(target, known, n=1)
    raise InputError(
        f"the model has no module or node {target!r} to explain unit by unit",
        hint=f"did you mean {close[0]!r}?"
        if close
        else "name a module, or MODULE.NODE as `nnc inspect` prints the nodes",
    )


def _explain(graph: Graph, target: str, ctx: PassContext) -> None:
    node = unit_node(graph, target)
    pre = graph[node].inputs[0] if graph[node].op is Op.RELU else None
    grid = _grid(ctx)
    count = graph[node].numel
    how = f", ReLU units fitted as max(0, form) of %{pre}" if pre else ""
    search = "sparse Fourier forms over every point" if grid else "symbolic regression"
    ctx.note(f"{target}: {count} units of %{node} {graph[node].shape}{how}; {search}")
    if grid is not None:
        forms = _fourier(graph, node, pre, grid, ctx)
    else:
        forms = _regressed(graph, node, pre, ctx)
    _report(target, forms, ctx)


def _grid(ctx: PassContext) -> Grid | None:
    """The free input elements when every point of an integer domain is in the reference."""
    reference = ctx.setting.reference
    if reference is None or not reference.complete:
        return None
    names, lows, sizes = [], [], []
    for spec in ctx.specs:
        if spec.calibration is not None or not spec.integer:
            return None
        for index in np.flatnonzero(np.isnan(spec.constants())).tolist():
            domain = spec.element_domain(index)
            if not isinstance(domain, Range):
                return None
            names.append(spec.element_name(index))
            lows.append(int(domain.lo))
            sizes.append(int(domain.hi) - int(domain.lo) + 1)
    return Grid(tuple(names), tuple(lows), tuple(sizes)) if names else None


def _recorder(graph: Graph, name: str, ctx: PassContext) -> Callable[[np.ndarray], np.ndarray]:
    """Per-sample values of node `name` (points → (n, units)), compiled once."""
    probe = graph.copy()
    probe.outputs = [name]
    remove_dead(probe)
    native = ctx.native(probe, ctx.specs, "raw")
    return lambda flat: native.run(flat).reshape(len(flat), -1)


def _fourier(
    graph: Graph, node: str, pre: str | None, grid: Grid, ctx: PassContext
) -> list[UnitForm]:
    flat = ctx.points
    values = _recorder(graph, node, ctx)(flat).T
    fitted = _recorder(graph, pre, ctx)(flat).T if pre else values
    pieces = ctx.fanout.chunks(len(values), UNITS_PER_PIECE)
    bounds = [len(values) * k // pieces for k in range(pieces + 1)]
    work = [
        FourierWork.packed(grid, a, fitted[a:b], values[a:b], pre is not None, ctx.gate)
        for a, b in itertools.pairwise(bounds)
        if b > a
    ]
    return [form for piece in ctx.fanout.map(fourier_forms, work) for form in piece]


@dataclass(frozen=True)
class RegressionWork:
    """A work unit: one unit's training and validation samples; for a clipped unit the
    pre-activation is regressed and max(0, law) must match the unit on the validation points."""

    unit: int
    X_train: np.ndarray
    fitted_train: np.ndarray
    X_valid: np.ndarray
    fitted_valid: np.ndarray
    values_valid: np.ndarray
    names: tuple[str, ...]
    clipped: bool
    options: Options
    gate: Gate


def regress_unit(work: RegressionWork) -> UnitForm:
    """One unit's law by symbolic regression, verified against the unit (runs in a worker)."""
    found = regress(
        f"units: unit {work.unit}",
        work.X_train,
        work.fitted_train,
        work.X_valid,
        work.fitted_valid,
        list(work.names),
        work.options,
        work.gate,
    )
    symbols = [sympy.Symbol(n) for n in work.names]
    judged = []  # (passes the gate on the unit, errors, law), simplest candidate first
    for candidate in found.front:
        law = candidate.expr
        with np.errstate(all="ignore"):
            values = np.broadcast_to(
                sympy.lambdify(symbols, law, "numpy")(*work.X_valid.T), work.values_valid.shape
            )
        values = np.maximum(values, 0) if work.clipped else values
        errors = relative_errors(values, work.values_valid)
        judged.append((work.gate.accepts_formula(errors), errors, law))
    if not judged:
        nothing = RelativeErrors(math.inf, math.inf)
        return UnitForm(
            work.unit, written(sympy.nan, work.clipped), work.clipped, nothing, False, (), ()
        )
    # the simplest law that passes on the unit itself (a clipped unit only where it is active),
    # else the nearest one
    passed, errors, law = next(
        (j for j in judged if j[0]), min(judged, key=lambda j: j[1].rel_rmse)
    )
    shape = law.xreplace({c: sympy.Symbol("c") for c in law.atoms(sympy.Float)})
    form = (readable(shape),)
    return UnitForm(work.unit, written(law, work.clipped), work.clipped, errors, passed, form, ())


def _regressed(graph: Graph, node: str, pre: str | None, ctx: PassContext) -> list[UnitForm]:
    options = ctx.options
    domain = Domain(ctx.specs)
    elements = [
        (spec.element_name(index), position, index)
        for position, spec in enumerate(ctx.specs)
        for index in np.flatnonzero(np.isnan(spec.constants())).tolist()
    ]
    record = _recorder(graph, node, ctx)
    record_fitted = _recorder(graph, pre, ctx) if pre else record
    samples = []
    for seed in (options.seed, options.seed + 1):
        points = domain.space_filling(options.sr_samples, seed)
        flat = abi_rows(points)
        X = np.stack(
            [points[p].reshape(len(flat), -1)[:, i] for _, p, i in elements], axis=1
        ).astype(np.float64)
        samples.append((X, record_fitted(flat), record(flat)))
    (X_train, fitted_train, _), (X_valid, fitted_valid, values_valid) = samples
    names = tuple(name for name, _, _ in elements)
    work = [
        RegressionWork(
            unit,
            X_train,
            fitted_train[:, unit],
            X_valid,
            fitted_valid[:, unit],
            values_valid[:, unit],
            names,
            pre is not None,
            options,
            ctx.gate,
        )
        for unit in range(values_valid.shape[1])
    ]
    return ctx.fanout.map(regress_unit, work)


def _report(target: str, forms: list[UnitForm], ctx: PassContext) -> None:
    """Notes grouping units by shared form, counts, and every unit's figures as evidence."""
    passed = [f for f in forms if f.passed]
    failed = [f for f in forms if not f.passed]
    ctx.count("unit formulas", len(passed))
    ctx.count("units without formula", len(failed))
    ctx.note(
        f"{target}: {len(passed)}/{len(forms)} units have a formula within the gate "
        f"({ctx.gate.describe()}, against each unit on the same points)"
    )
    for label, group in _groups(passed):
        ctx.note(f"  {label}: {len(group)} units: {_ranges(group)}")
    if failed:
        ctx.note(f"  no formula within the gate: {len(failed)} units: {_ranges(failed)}")
        if failed[0].frequencies:
            ctx.note("  their nearest forms, by frequency:")
        for label, group in _groups(failed, by_frequency=True):
            worst = max(f.errors.rel_rmse for f in group)
            ctx.note(
                f"    {label}: {len(group)} units (rel RMSE up to {worst:.2g}): {_ranges(group)}"
            )
    ctx.attach(
        f"units {target}",
        [
            {
                "unit": f.unit,
                "formula": f.formula,
                "passed": f.passed,
                "rel_rmse": f.errors.rel_rmse,
                "max_rel": f.errors.max_rel,
                "form": list(f.form),
                "frequencies": list(f.frequencies),
            }
            for f in forms
        ],
    )


def _groups(forms: list[UnitForm], by_frequency: bool = False) -> list[tuple[str, list[UnitForm]]]:
    """Units sharing a form (or only its frequencies), largest group first."""
    groups: dict[str, list[UnitForm]] = defaultdict(list)
    for f in forms:
        frequencies = ", ".join(map(str, f.frequencies))
        if by_frequency:
            key = f"frequencies {frequencies}" if f.frequencies else "other forms"
        else:
            key = (
                "form "
                + ", ".join(f.form)
                + (f" (frequencies {frequencies})" if frequencies else "")
            )
        groups[key].append(f)
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    shown = ordered[:SHOWN_GROUPS]
    rest = [f for _, group in ordered[SHOWN_GROUPS:] for f in group]
    return shown + ([(f"{len(ordered) - SHOWN_GROUPS} more forms", rest)] if rest else [])


def _ranges(forms: list[UnitForm]) -> str:
    """Unit indices as runs: 0–3, 7, 9–12."""
    indices = sorted(f.unit for f in forms)
    runs: list[list[int]] = []
    for i in indices:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}–{r[-1]}" for r in runs)
