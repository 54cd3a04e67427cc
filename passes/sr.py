"""sr: replace a network with few inputs by the law it computes, recovered with the network as an
oracle (recover.py) and kept only when it passes the gate against the network — in auto mode only
when it is a law rather than a fit (Gate.accepts_law).

    %out : f32[1, 1] = add(%h, %b)   (3 → 64 → 64 → 1 tanh MLP)   →   %out : f32[1, 1] = expr(%x)  ⟨x0*x1/x2**2⟩

For each output element: recover candidates (direct fits, target transforms, verified splits of
the network into parts, engine search), measure each against the network on validation samples,
keep the Pareto front (complexity vs error), and choose. An output with no chosen candidate keeps
its faithful form; the notes say why and show the best candidates. The steps that query the
network run here, output after output; the engine searches (samples in, candidates out) run as
work units on ctx.fanout, all outputs at once, with the same results wherever they run (an
output recovered in dimensionless groups, dimensions.py, still searches here).
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
import sympy
from nnc.closed_form import readable
from nnc.domain import Domain
from nnc.errors import InputError
from nnc.graph import Graph
from nnc.ops import Op
from nnc.physical_units import Unit, parse_unit
from nnc.pipeline import PassContext, register_pass
from nnc.rewrite import exprs_as_output
from nnc.spec import Range

from .dimensions import recover_with_units
from .oracle import NetworkOutput, Problem, variable
from .recover import Recovery, Trail, engine_search, oracle_steps, with_search
from .selection import (
    REGRESSION_DATA,
    Regression,
    Scored,
    best_tradeoff,
    choose,
    column_jobs,
    describe_front,
    measure,
    regress_job,
    run_searches,
    search_settings,
)

__all__ = ["sr"]

Element = tuple[str, int, int]  # (name, input position, flat element index)
SEARCHES = 1  # engine searches per output when fits and splits find no clear law


@register_pass("sr", exact=False)
def sr(graph: Graph, ctx: PassContext) -> Graph:
    """Replace each output of a few-input network by the law it computes, when there is one."""
    if ctx.options.symbolic:
        ctx.note("skipped: named modules are distilled instead (see distill)")
        return graph
    elements = _free_elements(graph, ctx)
    if elements is None:
        return graph
    options = ctx.options
    outputs = int(np.prod(graph[graph.outputs[0]].shape[1:], dtype=int))
    if len(options.output_units) not in (0, 1, outputs):
        raise InputError(
            f"output_units gives {len(options.output_units)} units for {outputs} output elements",
            hint="give one unit for every output element, or one for all of them",
        )
    queryable = _queryable(ctx, elements)
    if not queryable:
        ctx.note(
            "the domain is not a box of continuous ranges (calibration data, value sets or "
            "integers): regression on samples only, without the oracle steps"
        )
    if queryable:
        outcomes = _recovered(ctx, elements, outputs)
    else:
        outcomes = _from_samples(ctx, elements)
    replacements: list[sympy.Expr | None] = []
    searches = []
    for j, (front, trail, seconds, searched) in enumerate(outcomes):
        start = time.monotonic()
        if trail is not None:
            ctx.count("searches", trail.searches)
            ctx.notes.extend(f"output {j}:   {line}" for line in trail.lines)
            ctx.attach(f"output {j} steps", list(trail.lines))
        chosen, reason = choose(front, ctx.gate)
        if chosen is not None:
            chosen, reason = _held_on_reference(ctx, elements, j, chosen, reason)
        seconds += time.monotonic() - start
        ctx.note(f"output {j}: recovery in {seconds:.1f} s (its search {searched:.1f} s)")
        found = Regression(len(front), front, chosen, reason, seconds)
        searches.append({"output": j, "validation_samples": options.sr_samples, **found.to_json()})
        ctx.note(f"output {j}: {describe_front(front)}")
        ctx.attach(f"output {j} front", [_candidate_json(s) for s in front])
        if chosen is None:
            ctx.count("rejected")
            ctx.note(f"output {j}: {reason}; it keeps its faithful form")
            ctx.attach(f"output {j} result", {"kind": "network", "reason": reason})
        else:
            kind = "approximation" if ctx.gate.approximate else "law"
            ctx.note(
                f"output {j}: chose {readable(chosen.expr)} — {reason} (against the network on "
                f"{options.sr_samples:,} validation samples: rel RMSE {chosen.rel_rmse:.1e}, max "
                f"rel error {chosen.max_rel:.1e})"
            )
            ctx.attach(
                f"output {j} result",
                {
                    "kind": kind,
                    "formula": readable(chosen.expr),
                    "rel_rmse": chosen.rel_rmse,
                    "max_rel": chosen.max_rel,
                },
            )
        replacements.append(chosen.expr if chosen else None)
    ctx.attach(REGRESSION_DATA, searches)
    if all(r is None for r in replacements):
        return graph
    return exprs_as_output(graph, replacements, elements, prefix="law")


def _in_units(
    ctx: PassContext, elements: list[Element], output: int, recovery: Recovery
) -> tuple[list[Scored], Trail] | None:
    """Candidates for one output in dimensionless groups when every variable and the output
    have a physical unit (dimensions.py), searched here; None (with a note when units were
    given) when that does not apply."""
    units = _units(ctx, elements, output)
    if isinstance(units, str):
        ctx.note(f"output {output}: no dimensional analysis: {units}")
    elif units is not None:
        problem = _problem(ctx, elements, output)
        seed = ctx.options.seed + 1000 * output
        found = recover_with_units(problem, *units, recovery, seed, SEARCHES)
        if not isinstance(found, str):
            return found
        ctx.note(f"output {output}: no dimensional analysis: {found}")
    return None


def _units(
    ctx: PassContext, elements: list[Element], output: int
) -> tuple[list[Unit], Unit] | str | None:
    """The free elements' units and the output's; None when the user gave no unit at all, or why
    the units given are not enough."""
    given = ctx.options.output_units
    units = [ctx.specs[p].element_unit(i) for _, p, i in elements]
    if not given and all(u is None for u in units):
        return None
    missing = [name for (name, _, _), u in zip(elements, units) if u is None]
    if missing:
        return f"input {missing[0]!r} has no unit (write 1 after its range if it is dimensionless)"
    if not given:
        return "the output has no unit (output_units=..., --output-units)"
    return units, parse_unit(given[output] if len(given) > 1 else given[0])


def _held_on_reference(
    ctx: PassContext, elements: list[Element], output: int, chosen: Scored, reason: str
) -> tuple[Scored | None, str]:
    """The choice, if it also passes the gate on the points verification will check (corners of
    the domain included); otherwise None and why."""
    reference = ctx.setting.reference
    if reference is None:
        return chosen, reason
    offsets = np.cumsum([0] + [spec.numel for spec in ctx.specs])
    columns = [reference.flat[:, offsets[p] + i] for _, p, i in elements]
    network = reference.network.reshape(len(reference.network), -1)[:, output]
    symbols = [sympy.Symbol(name) for name, _, _ in elements]
    plain = chosen.expr.xreplace({s: sympy.Symbol(s.name) for s in chosen.expr.free_symbols})
    scored = measure(plain, symbols, np.stack(columns, axis=1), network)
    if scored is not None and ctx.gate.accepts_formula(scored.errors):
        return chosen, reason
    found = (
        "cannot be evaluated"
        if scored is None
        else f"rel RMSE {scored.rel_rmse:.1e}, max rel error {scored.max_rel:.1e}; the gate "
        f"allows {ctx.gate.rmse:g} and {ctx.gate.max:g}"
    )
    return None, (
        f"{readable(chosen.expr)} was chosen on the validation samples but fails the gate on "
        f"the verification points ({found})"
    )


def _candidate_json(candidate: Scored) -> dict[str, object]:
    return {
        "formula": str(candidate.expr),
        "complexity": candidate.complexity,
        "free_constants": candidate.free_constants,
        "rel_rmse": candidate.rel_rmse,
        "max_rel": candidate.max_rel,
        "rel_spread": candidate.rel_spread,
    }


def _queryable(ctx: PassContext, elements: list[Element]) -> bool:
    """Whether the network may be asked anywhere in a box: every free element a float range."""
    return all(
        not ctx.specs[p].integer
        and ctx.specs[p].calibration is None
        and isinstance(ctx.specs[p].element_domain(i), Range)
        for _, p, i in elements
    )


class Found(NamedTuple):
    """One output's candidates, what the recovery did (None: samples only), its seconds and
    those of its fanned-out search."""

    front: list[Scored]
    trail: Trail | None
    seconds: float
    searched: float = 0.0


def _recovered(ctx: PassContext, elements: list[Element], outputs: int) -> list[Found]:
    """Each output's recovery: the steps that query the network here, one output after another;
    the engine searches they ask for as work units on the compile's fan-out."""
    options = ctx.options
    recovery = Recovery(
        search_settings(options, options.seed),
        options.engine,
        options.basis_too,
        options.sr_samples,
    )
    found, searches = [], []
    for j in range(outputs):
        start = time.monotonic()
        with ctx.progress.task(f"output {j}", options.sr_seconds):
            ctx.progress("fits and splits with the network as an oracle")
            in_units = _in_units(ctx, elements, j, recovery)
            if in_units is not None:  # NOTE: its search ran here, with its reduced problem's steps
                (front, trail), search = in_units, None
            else:
                front, trail, search = oracle_steps(
                    _problem(ctx, elements, j), recovery, options.seed + 1000 * j, SEARCHES
                )
            _show_best(ctx, front)
        found.append(Found(front, trail, time.monotonic() - start))
        searches.append(search)
    due = [(j, search) for j, search in enumerate(searches) if search is not None]
    searched = run_searches(ctx, engine_search, [search for _, search in due], "engine search")
    for (j, search), result in zip(due, searched):
        front, trail, seconds, _ = found[j]
        front = with_search(front, trail, search, result)
        found[j] = Found(front, trail, seconds + result.seconds, result.seconds)
    return found


def _show_best(ctx: PassContext, front: list[Scored]) -> None:
    best = best_tradeoff(front)  # of error and size: what the gate looks at
    if best is not None:
        ctx.progress.best(f"{readable(best.expr)}  (rel RMSE {best.rel_rmse:.1e})")


def _from_samples(ctx: PassContext, elements: list[Element]) -> list[Found]:
    """The engines' front for each output from domain samples alone (no oracle steps): the
    network answers here, the searches run as work units on the compile's fan-out."""
    options = ctx.options
    domain = Domain(ctx.specs)
    points = [domain.space_filling(options.sr_samples, options.seed + k) for k in (0, 1)]
    X_train, X_valid = (_columns(p, elements) for p in points)
    y_train, y_valid = (ctx.network(p).reshape(options.sr_samples, -1) for p in points)
    names = tuple(name for name, _, _ in elements)
    jobs = column_jobs("", X_train, y_train, X_valid, y_valid, names, options, ctx.gate)
    found = run_searches(ctx, regress_job, jobs, "search")
    return [Found(r.front, None, r.seconds, r.seconds) for r in found]


def _columns(points: list[np.ndarray], elements: list[Element]) -> np.ndarray:
    return np.stack(
        [points[p].reshape(len(points[p]), -1)[:, i] for _, p, i in elements], axis=1
    ).astype(np.float64)


def _problem(ctx: PassContext, elements: list[Element], output: int) -> Problem:
    """The network's output `output` over the free input elements, in their ranges."""
    inputs = []
    for spec in ctx.specs:
        flat = np.nan_to_num(spec.constants()).tolist()
        inputs.append((spec.shape, spec.dtype, tuple(float(v) for v in flat)))
    lo = [float(ctx.specs[p].element_domain(i).ends()[0]) for _, p, i in elements]
    hi = [float(ctx.specs[p].element_domain(i).ends()[1]) for _, p, i in elements]
    width = tuple(h - l for l, h in zip(lo, hi))
    oracle = NetworkOutput(
        ctx.network,
        ctx.gradient,
        tuple(inputs),
        tuple((position, index) for _, position, index in elements),
        output,
        width,
    )
    symbols = tuple(variable(name, low) for (name, _, _), low in zip(elements, lo))
    return Problem(oracle, symbols, tuple(lo), tuple(hi))


def _free_elements(graph: Graph, ctx: PassContext) -> list[Element] | None:
    """(name, input position, element index) of every free input element, or None (with a note)
    when whole-network recovery does not apply."""
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
