"""synth: on a small discrete domain, replace the network's decision by the smallest integer program
that reproduces it — or, failing that, by an exact lookup table.

    %decision : i64[1] = argmax(%logits, dims=(1,))   →   %decision : i64[1] = expr(%tokens)  ⟨(a + b) mod 113⟩

Runs when every point of the domain was enumerated and the output is a class (argmax), a boolean
(threshold) or an integer. A program is kept when it agrees with the network on at least
`min_agreement` of the points; every disagreement is listed in the report.
"""

from __future__ import annotations

import time

import numpy as np
import sympy
import torch
from nnc.closed_form import is_closed_form, readable
from nnc.graph import Graph
from nnc.ops import Op
from nnc.pipeline import DiscreteProblem, PassContext, register_pass
from nnc.rewrite import remove_dead
from sympy.logic import SOPform

from .program_search import search_program, to_sympy

__all__ = ["MAX_PROGRAM_SIZE", "synth"]

MAX_PROGRAM_SIZE = 9  # leaves and operations; (a*a + b) mod p is 7


@register_pass("synth", exact=False)
def synth(graph: Graph, ctx: PassContext) -> Graph:
    """Replace a discrete output by the smallest integer program or an exact table (small domains)."""
    problem = ctx.discrete
    if is_closed_form(graph):
        ctx.note("skipped: the output is already a closed form")
        return graph
    if problem is None:
        ctx.note("skipped: needs a completely enumerated integer domain and a discrete output")
        return graph
    variables = {name: values for name, values in problem.variables.items()}
    start = time.monotonic()
    found = search_program(
        variables,
        problem.target,
        problem.constants,
        ctx.gate.agreement,
        ctx.options.synth_seconds,
        max_size=MAX_PROGRAM_SIZE,
        progress=ctx.progress,
    )
    if found is not None:
        expr = to_sympy(found.program)
        agreement = found.agreement
        ctx.count("programs explored", found.explored)
    else:
        expr, agreement = _boolean_formula(problem)
    out = graph.copy()
    (output,) = out.outputs
    node = out[output]
    if expr is not None:
        name = out.add(
            Op.EXPR,
            list(out.inputs),
            _expr_attrs(expr, problem, node.shape, node.dtype),
            name="program",
        )
        ctx.note(f"program: {readable(expr)} (agrees on {agreement}/{len(problem.target)} points)")
        ctx.count("program size", found.size if found is not None else int(sympy.count_ops(expr)))
    else:
        name = out.add(
            Op.TABLE, list(out.inputs), _table_attrs(problem, node.shape, node.dtype), name="table"
        )
        ctx.note(
            f"no program of size ≤ {MAX_PROGRAM_SIZE} found in {time.monotonic() - start:.1f} s "
            f"(budget {ctx.options.synth_seconds:g} s): exact table of {len(problem.target)} "
            "entries"
        )
    out.replace_uses(output, name)
    remove_dead(out)
    return out


def _boolean_formula(problem: DiscreteProblem) -> tuple[sympy.Expr | None, int]:
    """For 0/1 inputs and outputs: a minimal sum of products of the truth table (exact)."""
    values = list(problem.variables.values())
    boolean = all(set(np.unique(v)) <= {0, 1} for v in values)
    if not boolean or not set(np.unique(problem.target)) <= {0, 1}:
        return None, 0
    symbols = [sympy.Symbol(n) for n in problem.variables]
    rows = np.stack(values, axis=1)
    minterms = [list(map(int, row)) for row in rows[problem.target == 1]]
    formula = SOPform(symbols, minterms)
    return sympy.Piecewise((1, formula), (0, True)), len(problem.target)


def _expr_attrs(
    expr: sympy.Expr, problem: DiscreteProblem, shape: tuple[int, ...], dtype: str
) -> dict:
    names = {s.name for s in expr.free_symbols}
    bindings = tuple(b for b in problem.bindings if b[0] in names)
    bounds = {
        name: (int(problem.variables[name].min()), int(problem.variables[name].max()))
        for name, _, _ in bindings
    }
    return {"expr": expr, "bindings": bindings, "bounds": bounds, "shape": shape, "dtype": dtype}


def _table_attrs(problem: DiscreteProblem, shape: tuple[int, ...], dtype: str) -> dict:
    """Axes in the order of the enumeration, so the table is the target in point order."""
    axes = tuple(
        (name, position, element, tuple(sorted(set(problem.variables[name].tolist()))))
        for name, position, element in problem.bindings
    )
    order = np.lexsort([problem.variables[name] for name, _, _ in reversed(problem.bindings)])
    table = torch.from_numpy(problem.target[order].astype(np.int64))
    return {"table": table, "axes": axes, "shape": shape, "dtype": dtype}
