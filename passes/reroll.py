"""reroll: a recurrent network torch.export unrolled over L tokens becomes one cell in a loop.

    %h_1 = <GRU step>(%h_0, %s[:, 0])                  %state : f32[1, 6] = scan(%s, cell=cell<21 ops, state 6>)
    ...                                          →     %logits : f32[1, 2] = matmul(%state, %w) + %b
    %h_12 = <GRU step>(%h_11, %s[:, 11])
    %logits : f32[1, 2] = matmul(%h_12, %w) + %b

The analysis is compiler/reroll.py; it fails with a reason (kept in the notes) for anything that is
not one cell per token followed by a readout of the last state. The loop computes the same
operations in the same order, so the pass is exact; the cell and the readout are folded.
"""

from __future__ import annotations

from nnc.graph import Graph
from nnc.ops import Op
from nnc.pipeline import PassContext, register_pass
from nnc.reroll import Cell, NotARecurrence, Recurrence, reroll, token_domains
from nnc.rewrite import rewrite

from .fold import RULES, constant_subexpression

__all__ = ["reroll_pass"]


@register_pass("reroll", exact=True)
def reroll_pass(graph: Graph, ctx: PassContext) -> Graph:
    """Re-roll an unrolled recurrent network into one cell applied per token (exact)."""
    if len(ctx.specs) != 1:
        ctx.note("skipped: needs one token input")
        return graph
    try:
        recurrence = reroll(graph, token_domains(ctx.specs[0]))
    except NotARecurrence as error:
        ctx.note(f"kept unrolled: {error}")
        return graph
    recurrence = _folded(recurrence)
    rolled = recurrence.as_graph(graph)
    cell_ops = _ops(recurrence.cell.graph)
    ctx.note(
        f"one cell of {cell_ops} ops (state of {recurrence.cell.state_size} values) applied to "
        f"{recurrence.length} tokens, instead of the unrolled {_ops(graph)} ops"
    )
    ctx.count("cell ops", cell_ops)
    ctx.attach("recurrence", {"cell": recurrence.cell.graph.format(), "length": recurrence.length})
    return rolled


def _folded(recurrence: Recurrence) -> Recurrence:
    """The cell and the readout with constants folded and identity reshapes removed."""
    fold = {"rules": RULES, "every_op": [constant_subexpression]}
    cell = Cell(rewrite(recurrence.cell.graph, **fold), recurrence.cell.initial)
    return Recurrence(
        cell, rewrite(recurrence.readout, **fold), recurrence.length, recurrence.token_input
    )


def _ops(graph: Graph) -> int:
    return sum(1 for n in graph.nodes() if n.op not in (Op.INPUT, Op.CONST))
