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

import time
from dataclasses import dataclass

import numpy as np
import sympy

from nnc.closed_form import readable
from nnc.graph import Graph
from nnc.ops import Op
from nnc.pipeline import PassContext, register_pass
from nnc.progress import ticking
from nnc.rewrite import remove_dead
from nnc.spec import Domain

from .constants import snap_constants
from .engines import SearchSettings, get_engine

__all__ = ["sr", "Scored", "score", "pareto_front", "choose"]


@dataclass(frozen=True)
class Scored:
    """A cleaned candidate and its errors against the network on the validation samples."""

    expr: sympy.Expr
    complexity: int  # sympy operations + leaves, the same measure for every engine
    rel_rmse: float
    max_rel: float

    def passes(self, gate_rmse: float, gate_max: float) -> bool:
        return self.rel_rmse <= gate_rmse and self.max_rel <= gate_max


@register_pass("sr", exact=False)
def sr(graph: Graph, ctx: PassContext) -> Graph:
    """Replace each raw output of a few-input network by the simplest closed form passing the gate."""
    elements = _free_elements(graph, ctx)
    if elements is None:
        return graph
    output = graph[graph.outputs[0]]
    options = ctx.options
    domain = Domain(ctx.specs)
    train, valid = (domain.space_filling(options.sr_samples, options.seed + k) for k in (0, 1))
    X_train, X_valid = (_columns(points, elements) for points in (train, valid))
    y_train, y_valid = (ctx.network(points).reshape(options.sr_samples, -1)
                        for points in (train, valid))
    names = [name for name, _, _ in elements]
    symbols = [sympy.Symbol(n) for n in names]
    engine = get_engine(options.engine)
    settings = SearchSettings(options.operators, options.max_complexity, options.sr_seconds,
                              options.sr_threads, options.seed)
    replacements: list[sympy.Expr | None] = []
    for j in range(y_train.shape[1]):
        start = time.monotonic()
        with ticking(f"sr: output {j} ({engine.name})", options.sr_seconds, options.quiet):
            candidates = engine.fit(X_train, y_train[:, j], names, settings)
            if options.basis_too and engine.name != "basis":
                candidates += get_engine("basis").fit(X_train, y_train[:, j], names, settings)
        ctx.count("candidates", len(candidates))
        scored = [score(c.expr, symbols, X_train, y_train[:, j], X_valid, y_valid[:, j])
                  for c in candidates]
        front = pareto_front([s for s in scored if s is not None])
        chosen = choose(front, options.gate_rmse, options.gate_max)
        ctx.note(f"output {j}: {len(candidates)} candidates from {engine.name} in "
                 f"{time.monotonic() - start:.1f} s; Pareto front (complexity, rel RMSE, max rel "
                 "error vs the network): " + "; ".join(
                     f"{s.complexity}, {s.rel_rmse:.1e}, {s.max_rel:.1e}: {readable(s.expr)}"
                     for s in front))
        if chosen is None:
            ctx.count("rejected")
            ctx.note(f"output {j}: no candidate passed the gate (rel RMSE ≤ {options.gate_rmse:g},"
                     f" max rel error ≤ {options.gate_max:g}); it keeps its faithful form")
        else:
            ctx.note(f"output {j}: chose {readable(chosen.expr)} (rel RMSE {chosen.rel_rmse:.1e}, "
                     f"max rel error {chosen.max_rel:.1e} against the network)")
        replacements.append(chosen.expr if chosen else None)
    if all(r is None for r in replacements):
        return graph
    return _replace_outputs(graph, output.name, replacements, elements)


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
    elements = [(e.name, position, index) for position, spec in enumerate(ctx.specs)
                for index, e in enumerate(spec.elements) if e.constant is None]
    if reason is None and len(elements) > ctx.options.sr_max_inputs:
        reason = (f"{len(elements)} input elements (whole-network regression takes at most "
                  f"{ctx.options.sr_max_inputs})")
    if reason is not None:
        ctx.note(f"skipped: {reason}")
        return None
    return elements


def _columns(points: list[np.ndarray], elements: list[tuple[str, int, int]]) -> np.ndarray:
    return np.stack([points[position].reshape(len(points[position]), -1)[:, index]
                     for _, position, index in elements], axis=1).astype(np.float64)


def score(expr: sympy.Expr, symbols: list[sympy.Symbol], X_train: np.ndarray, y_train: np.ndarray,
          X_valid: np.ndarray, y_valid: np.ndarray) -> Scored | None:
    """Simplify, snap and refit on the training samples; measure on the validation samples."""
    try:
        cleaned = snap_constants(sympy.simplify(expr), symbols, X_train, y_train)
        if not cleaned.atoms(sympy.Float) and sympy.count_ops(cleaned) <= MAX_SIMPLIFY_OPS:
            cleaned = sympy.simplify(cleaned)  # snapped constants often cancel
        with np.errstate(all="ignore"):
            values = np.broadcast_to(sympy.lambdify(symbols, cleaned, "numpy")(*X_valid.T),
                                     y_valid.shape).astype(np.float64)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    if not np.all(np.isfinite(values)):
        return None
    error = values - y_valid
    rms = float(np.sqrt(np.mean(y_valid**2))) or 1.0
    scale = float(np.abs(y_valid).max()) or 1.0
    complexity = int(sympy.count_ops(cleaned)) + len(cleaned.atoms(sympy.Symbol, sympy.Number))
    return Scored(cleaned, complexity, float(np.sqrt(np.mean(error**2))) / rms,
                  float(np.abs(error).max()) / scale)


MAX_SIMPLIFY_OPS = 60  # sympy.simplify gets slow on larger expressions
# A candidate this many times worse than the best on the front is not the law: its error is the
# formula's, not the network's own approximation error.
NEAR_BEST = 3.0


def choose(front: list[Scored], gate_rmse: float, gate_max: float) -> Scored | None:
    """The simplest candidate that passes the gate and fits nearly as well as the best."""
    passing = [s for s in front if s.passes(gate_rmse, gate_max)]
    if not passing:
        return None
    best = min(s.rel_rmse for s in passing)
    return next(s for s in passing if s.rel_rmse <= NEAR_BEST * best)


def pareto_front(scored: list[Scored]) -> list[Scored]:
    """Candidates no other beats on both complexity and error, simplest first."""
    front: list[Scored] = []
    for candidate in sorted(scored, key=lambda s: (s.complexity, s.rel_rmse)):
        if not front or candidate.rel_rmse < front[-1].rel_rmse:
            front.append(candidate)
    return front


def _replace_outputs(graph: Graph, output: str, replacements: list[sympy.Expr | None],
                     elements: list[tuple[str, int, int]]) -> Graph:
    """EXPR nodes for the replaced output elements, slices of the faithful output for the rest."""
    out = graph.copy()
    node = out[output]
    vector = len(node.shape) == 2
    parts = []
    for j, expr in enumerate(replacements):
        if expr is None:
            parts.append(out.add(Op.SLICE, [output], {"dim": 1, "start": j, "end": j + 1, "step": 1}))
            continue
        names = {s.name for s in expr.free_symbols}
        attrs = {"expr": expr, "bindings": tuple(e for e in elements if e[0] in names),
                 "shape": (1, 1) if vector else node.shape, "dtype": node.dtype}
        parts.append(out.add(Op.EXPR, list(out.inputs), attrs, name=f"law{j}"))
    result = parts[0] if len(parts) == 1 else out.add(Op.CAT, parts, {"dim": 1}, name="laws")
    out.outputs = [result]
    remove_dead(out)
    return out
