"""lower: replace a small network by its exact scalar closed form (sympy), while it stays small.

    %h = matmul(%x, %w); %y = add(%h, %b)   →   %y = expr(%x)  ⟨0.5*x0 - 2.0*x1 + 0.25⟩

The graph is evaluated symbolically (nnc.symbolic); the attempt stops as soon as a value grows past
MAX_OPS operations or meets an op without an exact scalar form. The result is the same function up
to floating-point rounding.
"""

from __future__ import annotations

import math

import sympy
from nnc.graph import Graph
from nnc.ops import Op
from nnc.pipeline import PassContext, register_pass
from nnc.rewrite import exprs_as_output
from nnc.symbolic import MAX_OPS, symbolic_outputs

__all__ = ["lower"]


@register_pass("lower", exact=True)
def lower(graph: Graph, ctx: PassContext) -> Graph:
    """Replace a small network by its exact closed form (while it has at most MAX_OPS operations)."""
    output = graph[graph.outputs[0]]
    if output.op in (Op.EXPR, Op.TABLE) or not ctx.specs or len(output.shape) > 2:
        return graph
    names = {name: spec.element_names() for name, spec in zip(graph.inputs, ctx.specs)}
    if any(len(v) != graph[k].numel for k, v in names.items()):
        return graph
    exprs = symbolic_outputs(graph, names, ctx.specs)
    if exprs is not None:  # elements the spec fixes are values, not parameters of the form
        fixed = {
            sympy.Symbol(spec.element_name(k)): sympy.Integer(int(v))
            if spec.integer
            else sympy.Float(v)
            for spec in ctx.specs
            for k, v in enumerate(spec.constants().tolist())
            if not math.isnan(v)
        }
        exprs = [e.xreplace(fixed) if e is not None else None for e in exprs]
    if exprs is None:
        ctx.note(
            f"kept the network: its exact closed form has more than {MAX_OPS} operations "
            "or an op without a scalar form"
        )
        return graph
    bindings = [
        (n, position, element)
        for position, name in enumerate(graph.inputs)
        for element, n in enumerate(names[name])
    ]
    out = exprs_as_output(graph, exprs, bindings, prefix="exact")
    ctx.note("exact closed form: " + "; ".join(str(e) for e in exprs))
    return out
