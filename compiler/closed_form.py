"""Closed forms in the graph: EXPR nodes (a sympy expression over input elements), TABLE nodes
(an exact lookup table over a discrete domain) and AUTOMATON nodes (a finite automaton over a token
string, automaton.py). Evaluation and readable printing live here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import sympy
import torch
from sympy.printing.str import StrPrinter

__all__ = [
    "CLOSED_FORMS",
    "Binding",
    "closed_form_text",
    "evaluate_expr",
    "evaluate_table",
    "gather_elements",
    "is_closed_form",
    "output_forms",
    "readable",
]

# A symbol of an EXPR node, or an axis of a TABLE node: (name, position in node.inputs, flat
# element index inside that input's per-sample tensor).
Binding = tuple[str, int, int]


def gather_elements(
    inputs: Sequence[torch.Tensor], bindings: Sequence[Binding], rowwise: bool = False
) -> list[np.ndarray]:
    """The bound elements as float64 arrays over the batch (inputs keep their batch dimension);
    `rowwise`: over every row of the inputs' last dimension instead."""

    def rows(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(-1, t.shape[-1]) if rowwise else t.reshape(len(t), -1)

    return [
        rows(inputs[position])[:, element].double().numpy() for _, position, element in bindings
    ]


def evaluate_expr(
    expr: sympy.Expr,
    bindings: Sequence[Binding],
    inputs: Sequence[torch.Tensor],
    shape: tuple[int, ...],
    dtype: torch.dtype,
    rowwise: bool = False,
) -> torch.Tensor:
    """Evaluate an EXPR node's expression on input tensors (batch first): one value per sample,
    or — `rowwise` — one per row of the inputs' last dimension (shape (..., 1))."""
    symbols = [sympy.Symbol(name) for name, _, _ in bindings]
    function = sympy.lambdify(symbols, expr, modules="numpy")
    values = np.asarray(function(*gather_elements(inputs, bindings, rowwise)), dtype=np.float64)
    if rowwise:
        count = int(np.prod(inputs[0].shape[:-1]))
        values = np.broadcast_to(values, (count,)).copy()
        return torch.from_numpy(values).to(dtype).reshape(*inputs[0].shape[:-1], 1)
    batch = len(inputs[0]) if inputs else 1
    values = np.broadcast_to(values, (batch,)).copy()
    return torch.from_numpy(values).to(dtype).reshape(batch, *shape[1:])


def evaluate_table(
    table: torch.Tensor,
    axes: Sequence[tuple[str, int, int, tuple[float, ...]]],
    inputs: Sequence[torch.Tensor],
    shape: tuple[int, ...],
) -> torch.Tensor:
    """Look up a TABLE node: each axis's element is mapped to its position among the axis values
    (mixed radix, first axis slowest); a value outside them is an error, not a guess."""
    index = np.zeros(len(inputs[0]), dtype=np.int64)
    for name, position, element, values in axes:
        column = inputs[position].reshape(len(inputs[position]), -1)[:, element].double().numpy()
        known = np.asarray(values, dtype=np.float64)
        where = np.searchsorted(known, column)
        where = np.clip(where, 0, len(known) - 1)
        if not np.all(known[where] == column):
            raise ValueError(f"table axis {name} got a value outside its domain")
        index = index * len(known) + where
    return table[torch.from_numpy(index)].reshape(len(index), *shape[1:])


class _ReadablePrinter(StrPrinter):
    """sympy's str printer, with `mod`, `//` and Iverson brackets as people write them."""

    def _print_Mod(self, expr: sympy.Mod) -> str:
        left, right = expr.args
        left_text = self._print(left)
        if isinstance(left, (sympy.Add, sympy.Mul)):
            left_text = f"({left_text})"
        return f"{left_text} mod {self._print(right)}"

    def _print_floor(self, expr: Any) -> str:
        numerator, denominator = sympy.fraction(expr.args[0])
        if denominator != 1:
            return f"({self._print(numerator)}) // {self._print(denominator)}"
        return f"floor({self._print(expr.args[0])})"

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        if len(expr.args) == 2 and expr.args[0][0] == 1 and expr.args[1] == (0, True):
            return f"[{self._print(expr.args[0][1])}]"
        if len(expr.args) == 2 and expr.args[1][1] == True:
            (then, condition), (otherwise, _) = expr.args
            return (
                f"({self._print(then)} if {self._print(condition)} else {self._print(otherwise)})"
            )
        return self._print_Basic(expr)


def readable(expr: sympy.Expr) -> str:
    """`(a + b) mod 113` rather than `Mod(a + b, 113)`."""
    return _ReadablePrinter().doprint(expr)


CLOSED_FORMS = ("expr", "table", "automaton")  # the ops that hold a closed form


def output_forms(graph: Any) -> list[Any] | None:
    """The closed-form nodes the output is made of (EXPR/TABLE, possibly concatenated), or None
    when some part of the output is still computed by the faithful network."""
    node = graph[graph.outputs[0]]
    parts = [graph[name] for name in node.inputs] if node.op.value == "cat" else [node]
    if all(part.op.value in CLOSED_FORMS for part in parts):
        return parts
    return None


def is_closed_form(graph: Any) -> bool:
    return output_forms(graph) is not None


def closed_form_text(graph: Any) -> str | None:
    """What the graph's output is, when it is a closed form: the formulas, or a table's size."""
    parts = output_forms(graph)
    if parts is None:
        return None
    texts = [_text(p) for p in parts]
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"


def _text(node: Any) -> str:
    if node.op.value == "expr":
        return readable(node.attrs["expr"])
    if node.op.value == "automaton":
        automaton = node.attrs["automaton"]
        return f"finite automaton of {automaton.states} states over {list(automaton.alphabet)}"
    return f"exact lookup table of {node.attrs['table'].numel()} entries"
