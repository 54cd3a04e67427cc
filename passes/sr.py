"""sr: replace a network with few inputs by the closed form it computes, found by symbolic
regression and kept only when it passes the gate against the network.

    %out : f32[1, 1] = add(%h, %b)   (3 → 64 → 64 → 1 tanh MLP)   →   %out : f32[1, 1] = expr(%x)  ⟨x0*x1/x2**2⟩

For each output element: sample the domain (space-filling) for training and, separately, for
validation; ask the engine for candidates; simplify each, snap its constants and refit the rest;
measure it against the network on the validation samples; keep the simplest candidate on the
Pareto front (complexity vs error) that passes the gate. An output with no passing candidate keeps
its faithful form.
"""

from __future__ import annotations

import numpy as np
import sympy
from nnc.closed_form import readable
from nnc.domain import Domain
from nnc.graph import Graph
from nnc.ops import Op
from nnc.pipeline import PassContext, register_pass
from nnc.rewrite import exprs_as_output

from .selection import REGRESSION_DATA, describe_front, regress

__all__ = ["sr"]


@register_pass("sr", exact=False)
def sr(graph: Graph, ctx: PassContext) -> Graph:
    """Replace each output of a few-input network by a closed form that passes the gate."""
    if ctx.options.symbolic:
        ctx.note("skipped: named modules are distilled instead (see distill)")
        return graph
    elements = _free_elements(graph, ctx)
    if elements is None:
        return graph
    options = ctx.options
    domain = Domain(ctx.specs)
    train, valid = (domain.space_filling(options.sr_samples, options.seed + k) for k in (0, 1))
    X_train, X_valid = (_columns(points, elements) for points in (train, valid))
    y_train, y_valid = (
        ctx.network(points).reshape(options.sr_samples, -1) for points in (train, valid)
    )
    names = [name for name, _, _ in elements]
    replacements: list[sympy.Expr | None] = []
    searches = []
    for j in range(y_train.shape[1]):
        found = regress(
            f"output {j}",
            X_train,
            y_train[:, j],
            X_valid,
            y_valid[:, j],
            names,
            options,
            ctx.gate,
            ctx.progress,
        )
        ctx.count("candidates", found.candidates)
        searches.append({"output": j, "validation_samples": len(X_valid), **found.to_json()})
        ctx.note(
            f"output {j}: {found.candidates} candidates from {options.engine} in "
            f"{found.seconds:.1f} s; {describe_front(found.front)}"
        )
        chosen = found.chosen
        if chosen is None:
            ctx.count("rejected")
            ctx.note(
                f"output {j}: no candidate passed the gate ({ctx.gate.describe()}); it keeps "
                "its faithful form"
            )
        else:
            ctx.note(
                f"output {j}: chose {readable(chosen.expr)} (against the network on "
                f"{len(X_valid):,} validation samples: rel RMSE {chosen.rel_rmse:.1e}, max rel "
                f"error {chosen.max_rel:.1e})"
            )
        replacements.append(chosen.expr if chosen else None)
    ctx.attach(REGRESSION_DATA, searches)
    if all(r is None for r in replacements):
        return graph
    return exprs_as_output(graph, replacements, elements, prefix="law")


def _free_elements(graph: Graph, ctx: PassContext) -> list[tuple[str, int, int]] | None:
    """(name, input position, element index) of every free input element, or None (with a note)
    when whole-network regression does not apply."""
    output = graph[graph.outputs[0]]
    reason = None
    if ctx.network is None or not ctx.specs:
        reason = "no network to sample"
    elif output.op in (Op.EXPR, Op.TABLE) or output.dtype not in ("float32", "float64"):
        reason = "the output is not a raw float value"
    elif len(output.shape) > 2 or (len(output.shape) == 2 and output.shape[1] > 8):
        reason = f"output shape {output.shape} is not a few scalars"
    elements = [
        (spec.element_name(index), position, index)
        for position, spec in enumerate(ctx.specs)
        for index in np.flatnonzero(np.isnan(spec.constants())).tolist()
    ]
    if reason is None and len(elements) > ctx.options.sr_max_inputs:
        reason = (
            f"{len(elements)} input elements (whole-network regression takes at most "
            f"{ctx.options.sr_max_inputs})"
        )
    if reason is not None:
        ctx.note(f"skipped: {reason}")
        return None
    return elements


def _columns(points: list[np.ndarray], elements: list[tuple[str, int, int]]) -> np.ndarray:
    return np.stack(
        [
            points[position].reshape(len(points[position]), -1)[:, index]
            for _, position, index in elements
        ],
        axis=1,
    ).astype(np.float64)
