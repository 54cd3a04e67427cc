"""units: every unit of a named module gets a formula verified against the unit (planted Fourier
units on an enumerated domain, linear ReLU units on a continuous one), units without a sparse form
are listed, and the forms are the same whether the searches ran here or on workers."""

from __future__ import annotations

import nnc
import numpy as np
import pytest
import sympy
import torch
from helpers import FLOAT32_ATOL, FLOAT32_RTOL
from models import PLANTED_P, PLANTED_SPEC, PlantedFourier
from nnc.errors import InputError
from nnc.fidelity import Gate, relative_errors
from nnc.passes.fourier_forms import FourierWork, Grid, fourier_forms
from torch import nn

SPEC = PLANTED_SPEC
P = PLANTED_P


def _grid() -> tuple[np.ndarray, np.ndarray]:
    a, b = np.meshgrid(np.arange(P), np.arange(P), indexing="ij")
    return a.ravel(), b.ravel()


def _units_of(model: PlantedFourier) -> np.ndarray:
    """The ReLU units' values on every point, from torch: the ground truth of each formula."""
    a, b = _grid()
    with torch.no_grad():
        tokens = torch.from_numpy(np.stack([a, b], 1))
        return model.mlp(model.embed(tokens).flatten(1)).double().numpy()


def _evidence(artifact: nnc.Artifact, target: str) -> list[dict]:
    (record,) = [r for r in artifact.report.passes if r.name == "units"]
    return record.data[f"units {target}"]


@pytest.fixture(scope="module")
def planted() -> tuple[PlantedFourier, nnc.Artifact]:
    model = PlantedFourier()
    artifact = nnc.compile(
        model, [SPEC], units=["mlp.relu"], passes=["units"], mode="exact", workers=1
    )
    return model, artifact


def test_planted_units_get_their_frequencies(planted):
    _, artifact = planted
    units = _evidence(artifact, "mlp.relu")
    assert [u["passed"] for u in units] == [True, True, False, True]
    assert units[0]["form"] == ["2·a", "2·b"] and units[0]["frequencies"] == [2]
    assert units[1]["form"] == ["5·a"] and units[1]["frequencies"] == [5]
    assert units[3]["form"] == ["2·a", "2·b", "5·a", "5·b"]
    assert units[2]["rel_rmse"] > artifact.options.gate_rmse, "noise has no sparse form"


def test_each_formula_computes_its_unit_on_every_point(planted):
    """Against torch's own values of the units, not against the search's figures."""
    model, artifact = planted
    (record,) = [r for r in artifact.report.passes if r.name == "units"]
    truth = _units_of(model)
    a, b = _grid()
    symbols = sympy.symbols("a b", integer=True)
    for unit in (0, 1, 3):
        formula = sympy.sympify(
            record.data["units mlp.relu"][unit]["formula"],
            locals={"a": symbols[0], "b": symbols[1]},
        )
        values = sympy.lambdify(symbols, formula, "numpy")(a, b)
        np.testing.assert_allclose(values, truth[:, unit], rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
        assert formula.func is sympy.Max, "a ReLU unit is max(0, form)"


def test_the_report_groups_units_and_lists_those_without_a_formula(planted):
    _, artifact = planted
    text = artifact.report.text()
    assert "mlp.relu: 3/4 units have a formula within the gate" in text
    assert "form 2·a, 2·b (frequencies 2): 1 units: 0" in text
    assert "no formula within the gate: 1 units: 2" in text
    assert artifact.report.passes[0].stats == {"unit formulas": 3, "units without formula": 1}


def test_workers_find_the_same_forms(planted):
    model, serial = planted
    pooled = nnc.compile(model, [SPEC], units=["mlp"], passes=["units"], mode="exact", workers=2)
    assert _evidence(pooled, "mlp") == _evidence(serial, "mlp.relu")
    assert pooled.report.fanout["engine"] == "local" and pooled.report.fanout["tasks"] >= 1


def test_an_unknown_target_is_an_input_error_with_a_suggestion():
    with pytest.raises(InputError, match="no module or node 'mlp.rel'") as caught:
        nnc.compile(PlantedFourier(), [SPEC], units=["mlp.rel"], mode="exact")
    assert "mlp.relu" in caught.value.hint


def test_continuous_units_are_regressed_and_verified():
    """A ReLU layer over a continuous input: each unit is max(0, a linear form), or 0 if dead."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 3), nn.ReLU(), nn.Linear(3, 1))
    spec = "x:float[1]=-2..2"
    options = {"engine": "basis", "sr_samples": 300, "mode": "exact", "passes": ["units"]}
    serial = nnc.compile(model, [spec], units=["1"], workers=1, **options)
    units = _evidence(serial, "1")
    assert all(u["passed"] for u in units)
    x = np.random.default_rng(5).uniform(-2, 2, size=(500, 1))
    with torch.no_grad():
        truth = model[1](model[0](torch.from_numpy(x).float())).double().numpy()
    symbol = sympy.Symbol("x0")
    for unit in units:
        formula = sympy.sympify(unit["formula"], locals={"x0": symbol})
        values = sympy.lambdify([symbol], formula, "numpy")(x[:, 0])
        errors = relative_errors(np.broadcast_to(values, (500,)), truth[:, unit["unit"]])
        assert serial.report.passes[0].stats["unit formulas"] == 3
        assert errors.max_rel <= serial.options.gate_max
    pooled = nnc.compile(model, [spec], units=["1"], workers=2, **options)
    assert _evidence(pooled, "1") == units


def _recorded(model: PlantedFourier) -> tuple[np.ndarray, np.ndarray]:
    """The ReLU layer's pre-activations and units on every point, (units, points) in float64, as
    the units pass records a float32 network's nodes."""
    a, b = _grid()
    with torch.no_grad():
        hidden = model.embed(torch.from_numpy(np.stack([a, b], 1))).flatten(1)
        pre = model.mlp.W(hidden)
        return pre.double().numpy().T, torch.relu(pre).double().numpy().T


def _bits(array: np.ndarray) -> np.ndarray:
    return array.view(np.uint64)


def test_a_work_unit_leaves_out_what_its_worker_derives_to_the_bit():
    """ReLU units travel as their float32 pre-activations alone; the worker gets back the very
    arrays that were recorded, so its forms are those of the arrays themselves."""
    fitted, values = _recorded(PlantedFourier())
    grid = Grid(("a", "b"), (0, 0), (P, P))
    packed = FourierWork.packed(grid, 0, fitted, values, True, Gate())
    assert packed.values is None and packed.fitted.dtype == np.float32
    derived_fitted, derived_values = packed.arrays()
    assert np.array_equal(_bits(derived_fitted), _bits(fitted))
    assert np.array_equal(_bits(derived_values), _bits(values))
    plain = FourierWork(grid, 0, fitted, values, True, Gate())
    assert fourier_forms(packed) == fourier_forms(plain)


def test_values_a_worker_cannot_derive_exactly_travel_as_they_are():
    """torch's ReLU keeps the sign of a -0.0 pre-activation, max(0, x) does not; a unit that is
    not float32 keeps float64."""
    fitted, values = _recorded(PlantedFourier())
    fitted[0, 0], values[0, 0] = -0.0, -0.0
    fitted[1, 1] += 1e-12  # no longer a float32
    packed = FourierWork.packed(Grid(("a", "b"), (0, 0), (P, P)), 0, fitted, values, True, Gate())
    assert packed.values is not None and packed.values.dtype == np.float32
    assert packed.fitted.dtype == np.float64
    derived_fitted, derived_values = packed.arrays()
    assert np.array_equal(_bits(derived_fitted), _bits(fitted))
    assert np.array_equal(_bits(derived_values), _bits(values))
