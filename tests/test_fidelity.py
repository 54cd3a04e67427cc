"""The one error measure and the one gate: figures worked out by hand, boundaries included."""

from __future__ import annotations

import math

import numpy as np
import pytest
from nnc.errors import FidelityError, InputError
from nnc.fidelity import (
    Fidelity,
    Gate,
    RelativeErrors,
    check,
    decide,
    default_tolerance,
    measure,
    relative_errors,
)
from nnc.options import OutputSemantics, make_options

RAW = OutputSemantics("raw")
ARGMAX = OutputSemantics("argmax")


def test_relative_errors_by_hand() -> None:
    errors = relative_errors(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))
    # error (0, 0, -1): RMSE √(1/3) over the network's RMS √7; max 1 over the largest |output| 4
    assert errors.rel_rmse == pytest.approx(math.sqrt(1 / 21), rel=1e-12)
    assert errors.max_rel == pytest.approx(0.25, rel=1e-12)


@pytest.mark.parametrize(
    "values", [np.array([1.0, np.nan]), np.array([np.inf, 0.0]), np.array([1.0, 2.0, 3.0])]
)
def test_non_finite_or_misshapen_values_are_infinitely_wrong(values) -> None:
    assert relative_errors(values, np.array([1.0, 2.0])) == RelativeErrors(math.inf, math.inf)


def test_a_zero_network_measures_absolute_error() -> None:
    errors = relative_errors(np.array([0.0, 0.5]), np.zeros(2))
    assert (errors.rel_rmse, errors.max_rel) == (pytest.approx(math.sqrt(0.125)), 0.5)


def test_gate_accepts_formulas_up_to_both_bounds() -> None:
    gate = Gate(rmse=1e-2, max=5e-2)
    assert gate.accepts_formula(RelativeErrors(1e-2, 5e-2))
    assert not gate.accepts_formula(RelativeErrors(1.01e-2, 1e-3))
    assert not gate.accepts_formula(RelativeErrors(1e-3, 5.01e-2))


def test_pruning_may_use_half_its_budget() -> None:
    gate = Gate(pruning=1e-3)
    assert gate.accepts_pruning(5e-4) and not gate.accepts_pruning(5.01e-4)


def test_required_agreement_rounds_up() -> None:
    assert Gate(agreement=0.999).required_agreement(1000) == 999
    assert Gate(agreement=0.999).required_agreement(12769) == 12757
    assert Gate(agreement=1.0).required_agreement(7) == 7


def test_gate_from_options_caps_pruning_at_the_tolerance() -> None:
    gate = Gate.from_options(make_options(gate_rmse=0.02, gate_max=0.1, min_agreement=0.9))
    assert (gate.rmse, gate.max, gate.agreement, gate.pruning) == (0.02, 0.1, 0.9, 1e-3)
    assert Gate.from_options(make_options(tolerance=1e-4)).pruning == 1e-4
    assert Gate.from_options(make_options(prune_budget=0.5)).pruning == 5e-2  # gate_max


def test_measure_raw_outputs() -> None:
    network = np.array([[1.0], [-2.0]])
    fidelity = measure(network, np.array([[1.1], [-2.0]]), None, RAW, 0.06, None, False)
    assert fidelity.max_abs == pytest.approx(0.1)
    assert fidelity.max_rel == pytest.approx(0.05)  # 0.1 over the largest |output| 2
    assert fidelity.rmse == pytest.approx(math.sqrt(0.01 / 2))
    assert fidelity.passed and fidelity.points == 2 and fidelity.agreement is None
    assert not measure(network, np.array([[1.2], [-2.0]]), None, RAW, 0.06, None, False).passed


def test_a_nan_the_network_does_not_have_fails() -> None:
    fidelity = measure(np.ones((2, 1)), np.array([[1.0], [np.nan]]), None, RAW, 1.0, None, False)
    assert fidelity.max_rel == math.inf and not fidelity.passed


def test_outputs_of_another_shape_are_an_input_error() -> None:
    with pytest.raises(InputError, match="batch dimension first"):
        measure(np.ones((2, 3)), np.ones((2, 2)), None, RAW, 1e-5, None, False)


def test_decisions_count_agreement_and_ties_within_the_measured_error() -> None:
    network = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5 + 1e-9]])
    raw = network + 1e-6
    decisions = np.array([1, 0, 0])  # the third is a tie the artifact's rounding may flip
    points = np.array([[0, 1], [1, 0], [2, 2]])
    fidelity = measure(network, raw, decisions, ARGMAX, 1e-5, 3, True, points=points)
    assert (fidelity.agreement, fidelity.ties) == (2, 1) and fidelity.passed
    assert fidelity.disagreements == (([2, 2], 1, 0),)
    clear = network.copy()
    clear[2] = [0.5, 0.6]  # not a tie: the margin 0.1 is far above the error
    assert not measure(clear, clear + 1e-6, decisions, ARGMAX, 1e-5, 3, True).passed


def test_a_required_agreement_below_every_point_passes_a_program() -> None:
    network = np.array([[1.0], [2.0], [3.0], [4.0]])
    decisions = np.array([1, 2, 3, 5])
    kept = measure(network, None, decisions, RAW, 1e-5, 4, True, required=3)
    assert kept.agreement == 3 and kept.passed
    assert not measure(network, None, decisions, RAW, 1e-5, 4, True).passed


def test_decide_argmax_and_threshold_with_their_margins() -> None:
    classes, margin = decide(np.array([[0.1, 0.7, 0.3], [2.0, 1.0, 1.5]]), ARGMAX)
    assert classes.tolist() == [1, 0] and margin == pytest.approx([0.4, 0.5])
    above, margin = decide(np.array([[0.2], [0.7]]), OutputSemantics("threshold", 0.5))
    assert above.ravel().tolist() == [False, True] and margin == pytest.approx([0.3, 0.2])


def test_check_raises_with_the_figures_and_the_first_disagreements() -> None:
    fidelity = Fidelity(3, 3, True, None, None, None, 1e-5, 2, (([1, 2], 3, 0),))
    with pytest.raises(
        FidelityError,
        match=r"decisions agree on 2/3.*input \[1, 2\]: network 3, "
        r"artifact 0",
    ) as caught:
        check(fidelity, accept_mismatch=False, approximate=True)
    assert "accept_mismatch" in caught.value.hint and "bug" not in caught.value.hint
    with pytest.raises(FidelityError) as caught:
        check(fidelity, accept_mismatch=False, approximate=False)
    assert "bug in nnc" in caught.value.hint  # every pass exact: the mismatch is nnc's fault
    check(fidelity, accept_mismatch=True, approximate=True)  # kept on request: no error


def test_summary_and_json() -> None:
    fidelity = Fidelity(12769, 12769, True, 0.0, 0.0, 0.0, 1e-5, 12769)
    assert fidelity.summary() == (
        "verified on every point of the domain (12769): max abs error 0, max rel error 0 "
        "(tolerance 1e-05); decisions agree on 12769/12769"
    )
    as_json = fidelity.to_json()
    assert as_json["passed"] is True and as_json["complete"] is True
    assert as_json["disagreements"] == []


def test_default_tolerance_follows_the_network_dtype() -> None:
    assert default_tolerance("float32") == 1e-5 and default_tolerance("float64") == 1e-9
