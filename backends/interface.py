"""Which C interface a graph gets: per-sample input and output shapes (the traced batch dimension
dropped), the scalar form when the output is one value, and the typed column entries its domain
allows. `abi.py` names the symbols; this module decides which exist."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from nnc.expr_ranges import fits_int32
from nnc.graph import Graph, Node
from nnc.ops import Op, is_integer_dtype
from nnc.spec import InputSpec

from .abi import Abi, AutomatonAbi, ScalarArg, TensorInfo, row_suffix
from .guard import check_outside, domain_segments

__all__ = ["JIT_PREFIX", "MAX_SCALAR_ARGS", "abi_json", "make_abi", "scalar_closed_form"]

MAX_SCALAR_ARGS = 32  # beyond this many free input elements there is no scalar entry point
JIT_PREFIX = "nnc"  # symbol prefix of code compiled in process


def abi_json(graph: Graph, specs: Sequence[InputSpec]) -> dict[str, Any]:
    """The interface recorded in the library's metadata, from which `nnc.load` rebuilds its Abi."""
    return make_abi("x", graph, specs, {}).to_json()


def scalar_closed_form(graph: Graph) -> Node | None:
    """The output's EXPR node when it is one closed form of the graph's inputs themselves: the
    scalar form (and the inline C form) then compute the expression directly, no kernel."""
    output = graph[graph.outputs[0]]
    direct = (
        output.op is Op.EXPR
        and set(output.inputs) <= set(graph.inputs)
        and not output.attrs.get("rowwise")
    )
    return output if direct else None


def make_abi(
    prefix: str,
    graph: Graph,
    specs: Sequence[InputSpec],
    metadata: dict[str, Any],
    outside: str = "check",
) -> Abi:
    """The C interface of this graph: per-sample shapes (the traced batch dimension dropped), and
    the domain its entries check (`outside`: check, clamp or allow; see guard.py)."""
    check_outside(specs, outside)
    inputs = tuple(TensorInfo(s.name, s.shape, s.dtype) for s in specs)
    node = graph[graph.outputs[0]]
    output = TensorInfo("y", node.shape[1:], node.dtype)
    fixed = [spec.constants() for spec in specs]
    free_count = sum(int(np.isnan(values).sum()) for values in fixed)
    scalar = math.prod(output.shape) == 1 and free_count <= MAX_SCALAR_ARGS
    free, constants, start = [], [], 0
    for spec, values in zip(specs, fixed):
        if scalar:  # NOTE: only then are elements few enough to list one by one
            for index, value in enumerate(values.tolist()):
                if math.isnan(value):
                    free.append(ScalarArg(spec.element_name(index), start + index, spec.integer))
                else:
                    constants.append((start + index, value))
        start += spec.numel
    integer = is_integer_dtype(node.dtype)
    columns = _column_types(free, integer, specs, node) if scalar else ()
    return Abi(
        prefix,
        inputs,
        output,
        integer,
        tuple(free) if scalar else None,
        tuple(constants),
        metadata,
        columns,
        row_suffix([graph[name].dtype for name in graph.inputs], node.dtype),
        domain_segments(specs),
        outside,
        _automaton(node),
    )


def _automaton(node: Any) -> AutomatonAbi | None:
    """The automaton entries' facts when the output is an automaton."""
    if node.op is not Op.AUTOMATON:
        return None
    automaton, verified = node.attrs["automaton"], node.attrs["verified"]
    checks = [verified["exhaustive"], *verified["sampled"]]
    sentences = [
        f"{'every string' if c['complete'] else 'a sample of ' + str(c['strings']) + ' strings'}"
        f" of length {c['lengths'][0]}..{c['lengths'][1]}: {c['agreement']}/{c['strings']} agree"
        for c in checks
    ]
    return AutomatonAbi(
        automaton.states, automaton.alphabet, "; ".join(sentences), automaton.to_json()
    )


def _column_types(
    free: list[ScalarArg], integer_output: bool, specs: Sequence[InputSpec], node: Any
) -> tuple[str, ...]:
    """Typed column-wise entries that fit: int32/int64 for integer programs (int32 only when the
    domain and the output provably fit), float/double for real-valued ones."""
    if free and all(a.integer for a in free) and integer_output:
        ends = [spec.bounds() for spec in specs]
        small_inputs = all(-(2**31) <= lo.min() and hi.max() < 2**31 for lo, hi in ends)
        small_output = (
            node.op is Op.ARGMAX
            or (
                node.op is Op.EXPR
                and fits_int32(node.attrs["expr"], node.attrs.get("bounds") or {})
            )
            or node.dtype == "bool"
        )
        return ("i32", "i64") if small_inputs and small_output else ("i64",)
    if free and not any(a.integer for a in free) and not integer_output:
        return ("f32", "f64")
    return ()
