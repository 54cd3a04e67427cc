"""Dimensional analysis (passes/dimensions.py): planted laws reduce to their dimensionless groups
and map back exactly; functions the units do not fit are not reduced; the step fires end to end
on a shipped law network with units and the exact law comes back."""

from __future__ import annotations

import time
from pathlib import Path

import nnc
import numpy as np
import pytest
import sympy
from nnc.errors import InputError
from nnc.options import make_options
from nnc.passes.dimensions import Reduction, recover_with_units, reduce
from nnc.passes.recover import Recovery
from nnc.passes.selection import search_settings
from nnc.physical_units import parse_unit
from test_structure import EXACT_SPLIT, planted

ROOT = Path(__file__).resolve().parents[2]
METRE, KILOGRAM, SPEED, JOULE = (parse_unit(u) for u in ("m", "kg", "m/s", "J"))


def _max_rel(problem, expr: sympy.Expr) -> float:
    X = problem.sample(512, 5)
    got = sympy.lambdify(problem.symbols, expr, "numpy")(*X.T)
    truth = problem.values(X)
    return float(np.max(np.abs(got - truth)) / np.max(np.abs(truth)))


def test_a_length_of_two_lengths_reduces_to_one_ratio() -> None:
    problem = planted(lambda a, b: np.sqrt(a**2 + b**2), [1, 1], [3, 3])
    reduction = reduce(problem, [METRE, METRE], METRE, seed=0)
    assert isinstance(reduction, Reduction), reduction
    x0, x1 = problem.symbols
    assert reduction.scale == x0 and reduction.groups == (x1 / x0,)
    assert reduction.error < EXACT_SPLIT
    (group,) = reduction.problem.symbols
    assert _max_rel(problem, reduction.restore(sympy.sqrt(1 + group**2))) < EXACT_SPLIT
    # the reduced oracle is g(π) = f / x0 at the pivot x0 = 2: sqrt(1 + π²)
    U = reduction.problem.sample(64, 1)
    np.testing.assert_allclose(reduction.problem.values(U), np.sqrt(1 + U[:, 0] ** 2), rtol=1e-12)


def test_no_group_left_gives_the_law_up_to_its_constant() -> None:
    problem = planted(lambda m, v: m * v**2 / 2, [0, 0], [2, 2])
    recovery = Recovery(search_settings(make_options(), 0))
    front, trail = recover_with_units(problem, [KILOGRAM, SPEED], JOULE, recovery, 0, 1)
    assert trail.lines[0].startswith("dimensional analysis: f = x0*x1**2 · g(none)")
    m, v = problem.symbols
    assert any(sympy.simplify(s.expr - m * v**2 / 2) == 0 for s in front), front


@pytest.mark.parametrize(
    ("function", "units", "output", "why"),
    [
        (lambda a, b: a + b**2, [METRE, METRE], METRE, "not dimensionally consistent"),
        (lambda a, b: a * b, [METRE, METRE], KILOGRAM, "a dimensional constant is missing"),
        (lambda a, b: a / b, [KILOGRAM, parse_unit("s")], METRE, "no product of powers"),
        (lambda a, b: a / b, [KILOGRAM, SPEED], parse_unit("1"), "not dimensionally consistent"),
    ],
)
def test_units_that_do_not_fit_the_function_leave_it_unreduced(function, units, output, why):
    problem = planted(function, [1, 1], [3, 3])
    reason = reduce(problem, units, output, seed=0)
    assert isinstance(reason, str) and why in reason


def test_a_variable_reaching_zero_is_not_divided_by() -> None:
    problem = planted(lambda a, b: b / a, [0, 1], [2, 3])  # the group x1/x0 divides by x0
    reason = reduce(problem, [METRE, METRE], parse_unit("1"), seed=0)
    assert isinstance(reason, str) and "x0 may be zero or negative" in reason


def test_the_dimensional_step_fires_on_a_law_network_with_units() -> None:
    start = time.perf_counter()
    artifact = nnc.compile(
        ROOT / "examples" / "laws" / "kinetic.pt2",
        ["x:float[2]=[m:0..2 kg, v:0..2 m/s]"],
        output_units="J",
    )
    seconds = time.perf_counter() - start
    m, v = sympy.symbols("m v")
    found = sympy.sympify(artifact.report.closed_form, locals={"m": m, "v": v})
    assert sympy.simplify(found - m * v**2 / 2) == 0, artifact.report.text()
    notes = "\n".join(n for p in artifact.report.passes if p.name == "sr" for n in p.notes)
    assert "dimensional analysis: f = m*v**2 · g(none)" in notes
    fidelity = artifact.report.fidelity
    assert fidelity.passed and fidelity.max_rel <= make_options().gate_max, seconds


def test_an_output_unit_per_output_element_or_one_for_all() -> None:
    with pytest.raises(InputError, match="output_units gives 3 units for 1 output elements"):
        nnc.compile(
            ROOT / "examples" / "laws" / "kinetic.pt2",
            ["x:float[2]=[m:0..2 kg, v:0..2 m/s]"],
            output_units="J,J,J",
            passes=["sr"],
        )


def test_the_distance_law_comes_back_through_its_ratio() -> None:
    artifact = nnc.compile(
        ROOT / "examples" / "laws" / "distance.pt2", ["x:float[2]=1..3 m"], output_units="m"
    )
    x0, x1 = sympy.symbols("x0 x1")
    found = sympy.sympify(artifact.report.closed_form, locals={"x0": x0, "x1": x1})
    assert sympy.simplify(found - sympy.sqrt(x0**2 + x1**2)) == 0, artifact.report.text()
    notes = "\n".join(n for p in artifact.report.passes if p.name == "sr" for n in p.notes)
    assert "dimensional analysis: f = x0 · g(x1/x0)" in notes


def test_whole_powers_of_a_negative_range_are_allowed() -> None:
    problem = planted(lambda a, b: b * np.sin(a / b), [-3, 1], [-1, 2])
    reduction = reduce(problem, [METRE, METRE], METRE, seed=0)
    assert isinstance(reduction, Reduction), reduction
    assert reduction.error < EXACT_SPLIT
    lo, hi = reduction.problem.lo, reduction.problem.hi
    assert lo[0] < hi[0] < 0  # x1/x0 at x0 = -2: [-1, -1/2]
