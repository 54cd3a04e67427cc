"""Distil named modules: record a module's inputs and outputs while the whole model runs on the
domain, regress its law, and compile the rest of the graph faithfully around it (the method of
Cranmer et al. 2020, arXiv 2006.11287).

A module qualifies when it maps rows to rows: inputs shaped (..., d_i) and its output (..., k)
with the same leading dimensions, as an edge model applied to every edge of a graph network. Its
law is found per output column over the concatenated input rows, named u0, u1, ...

Every named module is recorded on the graph as the pass receives it; the searches of all modules'
columns are independent, so they run as work units on ctx.fanout (the same laws wherever they
run); then the modules are replaced in the order they were named.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import sympy
from nnc.closed_form import readable
from nnc.domain import Domain, abi_rows
from nnc.errors import InputError
from nnc.graph import Graph
from nnc.ops import Op
from nnc.pipeline import PassContext, register_pass
from nnc.rewrite import remove_dead

from .selection import (
    REGRESSION_DATA,
    Regression,
    RegressionJob,
    column_jobs,
    describe_front,
    regress_job,
    run_searches,
)

__all__ = ["distill", "module_nodes"]


@register_pass("distill", exact=False)
def distill(graph: Graph, ctx: PassContext) -> Graph:
    """Replace each module named in `symbolic` by the closed form it computes, row by row."""
    if not ctx.options.symbolic:
        ctx.note("skipped: no modules named (symbolic=[...] / --symbolic)")
        return graph
    plans = [plan for module in ctx.options.symbolic if (plan := _plan(graph, module, ctx))]
    jobs = [job for plan in plans for job in plan.jobs]
    regressions = iter(run_searches(ctx, regress_job, jobs, "module search"))
    searches: list[dict] = []
    renamed: dict[str, str] = {}  # a replaced module's output → the node of its law
    for plan in plans:
        found = [next(regressions) for _ in plan.jobs]
        graph = _distilled(graph, plan, found, renamed, searches, ctx)
    if searches:
        ctx.attach(REGRESSION_DATA, searches)
    return graph


def module_nodes(graph: Graph, module: str) -> list[str]:
    """Nodes created by `module` or its submodules, from the front end's provenance."""

    def inside(path: str) -> bool:
        return path == module or path.startswith(module + ".")

    members = [n.name for n in graph.nodes() if inside(n.meta.get("module", ""))]
    if not members:
        known = sorted({n.meta.get("module", "") for n in graph.nodes()} - {""})
        close = difflib.get_close_matches(module, known, n=1)
        raise InputError(
            f"the model has no module {module!r} to distil",
            hint=f"did you mean {close[0]!r}?"
            if close
            else f"modules in the model: {', '.join(known) or 'none'}",
        )
    return members


@dataclass(frozen=True)
class Plan:
    """A module to distil: its output node, its input nodes, and a search per output column."""

    module: str
    output: str
    inputs: list[str]
    jobs: list[RegressionJob]


def _plan(graph: Graph, module: str, ctx: PassContext) -> Plan | None:
    """The module's rows recorded on the domain and its searches, or None (with a note) when
    the module does not map rows to rows."""
    members = set(module_nodes(graph, module))
    outputs = [
        m for m in members if m in graph.outputs or any(u not in members for u in graph.users(m))
    ]
    inputs = sorted(
        {
            i
            for m in members
            for i in graph[m].inputs
            if i not in members and graph[i].op is not Op.CONST
        },
        key=lambda name: list(graph.nodes()).index(graph[name]),
    )
    if len(outputs) != 1 or not inputs:
        ctx.note(
            f"{module}: skipped, it has {len(outputs)} outputs and {len(inputs)} inputs "
            "(distillation needs one output and at least one input)"
        )
        return None
    (output,) = outputs
    rows_shape = graph[output].shape[:-1]
    if any(graph[i].shape[:-1] != rows_shape for i in inputs):
        ctx.note(
            f"{module}: skipped, its inputs and output do not share leading dimensions "
            f"(output {graph[output].shape}, inputs {[graph[i].shape for i in inputs]})"
        )
        return None
    options = ctx.options
    per_sample = max(1, math.prod(rows_shape))
    samples = max(1, math.ceil(options.sr_samples / per_sample))
    domain = Domain(ctx.specs)
    record = _recorder(graph, inputs, output, ctx)
    X_train, y_train = record(domain.space_filling(samples, options.seed))
    X_valid, y_valid = record(domain.space_filling(samples, options.seed + 1))
    names = tuple(f"u{i}" for i in range(X_train.shape[1]))
    ctx.note(
        f"{module}: {X_train.shape[0]} recorded rows; u0..u{len(names) - 1} are the columns "
        f"of {', '.join('%' + i for i in inputs)}"
    )
    # NOTE: naming a module asks for its formula: a fit that passes the gate is taken (the
    # report calls it an approximation), not only a law
    gate = replace(ctx.gate, approximate=True)
    jobs = column_jobs(f"{module} ", X_train, y_train, X_valid, y_valid, names, options, gate)
    return Plan(module, output, inputs, jobs)


def _distilled(
    graph: Graph,
    plan: Plan,
    found: list[Regression],
    renamed: dict[str, str],
    searches: list[dict],
    ctx: PassContext,
) -> Graph:
    """The graph with the planned module replaced by its laws, or unchanged (with a note) when
    a column has none or an earlier module's replacement removed the module's nodes."""
    module = plan.module
    laws = []
    for j, regression in enumerate(found):
        searches.append(
            {
                "module": module,
                "output": j,
                "validation_samples": len(plan.jobs[j].X_valid),
                **regression.to_json(),
            }
        )
        ctx.note(f"{module} output {j}: {describe_front(regression.front)}")
        chosen = regression.chosen
        if chosen is None:
            ctx.count("rejected")
            ctx.note(
                f"{module} output {j}: no candidate passed the gate; the module stays faithful"
            )
            return graph
        ctx.note(
            f"{module} output {j}: {readable(chosen.expr)} (rel RMSE {chosen.rel_rmse:.1e}, "
            f"max rel error {chosen.max_rel:.1e} against the module)"
        )
        laws.append(chosen.expr)
    inputs = [renamed.get(i, i) for i in plan.inputs]
    if plan.output not in graph or any(i not in graph for i in inputs):
        ctx.note(f"{module}: skipped, a module replaced before it held its nodes")
        return graph
    graph, renamed[plan.output] = _replace(graph, plan.output, inputs, laws, module)
    return graph


def _recorder(
    graph: Graph, inputs: list[str], output: str, ctx: PassContext
) -> Callable[[list[np.ndarray]], tuple[np.ndarray, np.ndarray]]:
    """A function from domain points to the module's input rows (concatenated) and output rows,
    with the whole model running; each probe is compiled once."""
    probes = []
    for name in [*inputs, output]:
        probe = graph.copy()
        probe.outputs = [name]
        remove_dead(probe)
        native = ctx.native(probe, ctx.specs, "raw")
        probes.append((native, graph[name].shape[-1]))

    def record(points: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        flat = abi_rows(points)
        columns = [native.run(flat).reshape(-1, width) for native, width in probes]
        return np.concatenate(columns[:-1], axis=1), columns[-1]

    return record


def _replace(
    graph: Graph, output: str, inputs: list[str], laws: list[sympy.Expr], module: str
) -> tuple[Graph, str]:
    """Rowwise EXPR nodes, one per output column, concatenated in place of the module's output
    (the graph, and the node now computing the output)."""
    out = graph.copy()
    node = out[output]
    bindings, column = [], 0
    for position, name in enumerate(inputs):
        for element in range(out[name].shape[-1]):
            bindings.append((f"u{column}", position, element))
            column += 1
    parts = []
    for j, law in enumerate(laws):
        used = {s.name for s in law.free_symbols}
        attrs = {
            "expr": law,
            "bindings": tuple(b for b in bindings if b[0] in used),
            "rowwise": True,
            "shape": (*node.shape[:-1], 1),
            "dtype": node.dtype,
        }
        parts.append(out.add(Op.EXPR, inputs, attrs, name=f"{module.replace('.', '_')}_law{j}"))
    law_node = parts[0] if len(parts) == 1 else out.add(Op.CAT, parts, {"dim": len(node.shape) - 1})
    out.replace_uses(output, law_node)
    remove_dead(out)
    return out, law_node
