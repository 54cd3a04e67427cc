"""sr: laws recovered from trained networks, the gate, the faithful fallback, snapping,
determinism, the same formulas with searches fanned out, and the engines' adapters (PySR without
Julia)."""

from __future__ import annotations

import sys
from pathlib import Path

import nnc
import numpy as np
import pytest
import sympy
import torch
from helpers import FLOAT32_ATOL, FLOAT32_RTOL, GATE_MAX, network_output
from nnc.errors import InputError, MissingDependencyError
from nnc.fidelity import Gate, relative_errors
from nnc.ops import Op
from nnc.options import make_options
from nnc.passes.constants import nearest_simple, simple_numbers, snap_constants
from nnc.passes.engines import SearchSettings, get_engine
from nnc.passes.engines.pysr import equations_to_candidates, pysr_options
from nnc.passes.oracle import own
from nnc.passes.selection import REGRESSION_DATA, choose, pareto_front, score
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples" / "laws"))
from laws import LAWS

x0, x1, x2 = sympy.symbols("x0 x1 x2")
LEAST_SQUARES_ROUNDING = 1e-9  # a least-squares fit of an exact law, relative to its scale


def _equivalent(found: str | None, truth: str) -> bool:
    symbols = {f"x{i}": sympy.Symbol(f"x{i}") for i in range(3)}
    return (
        found is not None
        and sympy.simplify(
            sympy.sympify(found, locals=symbols) - sympy.sympify(truth, locals=symbols)
        )
        == 0
    )


@pytest.mark.parametrize("law", ["gravity", "decay", "cubic", "kinetic", "waves"])
def test_law_recovered_with_the_basis_engine(law: str) -> None:
    artifact = nnc.compile(ROOT / "examples" / "laws" / f"{law}.pt2", engine="basis")
    assert _equivalent(artifact.report.closed_form, LAWS[law][0]), artifact.report.text()
    fidelity = artifact.report.fidelity
    assert fidelity.passed and fidelity.max_rel <= make_options().gate_max


@pytest.mark.slow
def test_law_recovered_with_operon_and_compiled_to_native_code(tmp_path: Path) -> None:
    artifact = nnc.compile(
        ROOT / "examples" / "laws" / "gravity.pt2", basis_too=False, sr_seconds=20
    )
    assert _equivalent(artifact.report.closed_form, "x0*x1/x2**2")
    library = nnc.load(artifact.save(tmp_path / "gravity.so"))
    x = np.array([[2.0, 3.0, 1.5], [1.0, 1.0, 3.0]])
    np.testing.assert_allclose(library(x).ravel(), x[:, 0] * x[:, 1] / x[:, 2] ** 2, rtol=1e-6)


def test_gate_rejects_a_wrong_formula() -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(1, 3, size=(400, 3))
    y = X[:, 0] * X[:, 1] / X[:, 2] ** 2
    wrong = score(x0 + x1, [x0, x1, x2], X, y, X, y)
    right = score(1.0000001 * x0 * x1 / x2**2, [x0, x1, x2], X, y, X, y)
    gate = Gate(rmse=1e-2, max=5e-2)
    assert not gate.accepts_formula(wrong.errors) and gate.accepts_formula(right.errors)
    assert right.expr == x0 * x1 / x2**2  # the constant was snapped
    assert choose(pareto_front([wrong, right]), gate)[0] == right
    assert choose(pareto_front([wrong]), gate)[0] is None


def test_faithful_form_kept_when_no_formula_passes() -> None:
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1)
    )
    artifact = nnc.compile(model, ["x:float[2]=-3..3"], engine="basis")
    (record,) = [r for r in artifact.report.passes if r.name == "sr"]
    assert not record.changed and any("keeps its faithful form" in n for n in record.notes)
    assert artifact.report.closed_form is None
    assert any(n.op is Op.MATMUL for n in artifact.graph.nodes())
    assert artifact.report.fidelity.max_rel <= 1e-5  # still the network, to float rounding


def untrained_quickstart() -> nn.Module:
    """The README's quickstart model, untrained: smooth, and no law."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 64), nn.Tanh(), nn.Linear(64, 1))


@pytest.mark.parametrize("engine", ["basis", pytest.param("operon", marks=pytest.mark.slow)])
def test_an_untrained_network_keeps_the_network(engine: str) -> None:
    artifact = nnc.compile(untrained_quickstart(), ["x:float[3]=1..3"], engine=engine)
    assert artifact.report.closed_form is None
    assert artifact.report.result.startswith("the network itself")
    (record,) = [r for r in artifact.report.passes if r.name == "sr"]
    reasons = ("fit, not a law", "nothing explains", "no candidate passed the gate")
    assert any(reason in note for note in record.notes for reason in reasons), record.notes
    assert artifact.report.fidelity.max_rel <= 1e-5  # the network, to float rounding


def test_a_fit_is_taken_when_approximations_are_asked_for() -> None:
    # the basis engine's best fits of this network are 2-4% off (RMSE): a user asking for an
    # approximation says how far it may be
    gate = {"gate_rmse": 5e-2, "gate_max": 0.15}
    artifact = nnc.compile(
        untrained_quickstart(),
        ["x:float[3]=1..3"],
        engine="basis",
        approximate_formulas=True,
        **gate,
    )
    assert artifact.report.closed_form is not None
    assert artifact.report.result.startswith("an approximation")
    assert artifact.report.fidelity.max_rel <= gate["gate_max"]


def test_symbolic_mode_fails_without_a_formula() -> None:
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1)
    )  # too large for an exact closed form, and no law
    with pytest.raises(nnc.FidelityError, match="no closed form"):
        nnc.compile(model, ["x:float[2]=-3..3"], engine="basis", mode="symbolic")


def test_snapping() -> None:
    assert nearest_simple(1.0000003, 1e-3) == 1
    assert nearest_simple(3.14159, 1e-3) == sympy.pi
    assert nearest_simple(6.28318, 1e-3) == 2 * sympy.pi
    assert nearest_simple(0.7071, 1e-3) == sympy.sqrt(2) / 2
    assert nearest_simple(0.333, 2e-3) == sympy.Rational(1, 3)
    assert simple_numbers(25.4, 1e-3, compound=False) == []  # 127/5 is not a simple number
    rng = np.random.default_rng(0)
    X = rng.uniform(1, 3, size=(300, 3))
    y = 3 * np.sin(np.pi * X[:, 0])
    snapped = snap_constants(2.9999 * sympy.sin(3.14159 * x0) + 1e-4, [x0, x1, x2], X, y)
    assert snapped == 3 * sympy.sin(sympy.pi * x0)


def test_operon_finds_the_law_and_the_same_seed_gives_the_same_front() -> None:
    """The default engine on its own, with few samples: fast enough for every run."""
    rng = np.random.default_rng(0)
    X = rng.uniform(1, 3, size=(200, 3))
    y = X[:, 0] * X[:, 1] / X[:, 2] ** 2
    engine = get_engine("operon")
    settings = SearchSettings(seconds=60, seed=1)  # ends on its evaluation budget, not the clock
    first = [c.expr for c in engine.fit(X, y, ["x0", "x1", "x2"], settings)]
    second = [c.expr for c in engine.fit(X, y, ["x0", "x1", "x2"], settings)]
    assert first == second
    found = score(first[-1], [x0, x1, x2], X, y, X, y)
    assert found.expr == x0 * x1 / x2**2  # the most accurate candidate, its constants snapped


@pytest.mark.slow
def test_same_seed_same_expression() -> None:
    path = ROOT / "examples" / "laws" / "kinetic.pt2"
    first = nnc.compile(path, basis_too=False, sr_seconds=10, seed=1).report.closed_form
    second = nnc.compile(path, basis_too=False, sr_seconds=10, seed=1).report.closed_form
    assert first == second and first is not None


def test_basis_engine_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(1, 3, size=(500, 3))
    y = X[:, 0] ** 2 + 3 * X[:, 1] * X[:, 2]
    engine = get_engine("basis")
    first = [c.expr for c in engine.fit(X, y, ["x0", "x1", "x2"], SearchSettings())]
    second = [c.expr for c in engine.fit(X, y, ["x0", "x1", "x2"], SearchSettings())]
    assert first == second
    # the law among the candidates, up to float rounding in its fitted coefficients
    truth = X[:, 0] ** 2 + 3 * X[:, 1] * X[:, 2]
    assert any(
        np.max(np.abs(sympy.lambdify([x0, x1, x2], e, "numpy")(*X.T) - truth))
        <= LEAST_SQUARES_ROUNDING * np.max(np.abs(truth))
        for e in first
    )


def test_basis_engine_fits_a_ratio_of_linear_forms() -> None:
    """Feynman II.11.28 through u = nα is 1 + u/(1 − u/3) = (1 + 2u/3)/(1 − u/3): no sum of
    library terms, one least-squares fit as a ratio (basis._ratios); snapped, it is the law."""
    u = sympy.Symbol("u")
    X = np.random.default_rng(0).uniform(0, 1, size=(500, 1))
    y = 1 + X[:, 0] / (1 - X[:, 0] / 3)
    candidates = get_engine("basis").fit(X, y, ["u"], SearchSettings())
    law = (1 + 2 * u / 3) / (1 - u / 3)
    snapped = [snap_constants(own(c.expr, [u]), [u], X, y) for c in candidates]
    assert any(sympy.simplify(e - law) == 0 for e in snapped)


def test_pysr_option_mapping() -> None:
    options = pysr_options(
        SearchSettings(
            operators=("add", "mul", "div", "sin", "exp"),
            max_complexity=20,
            seconds=12.0,
            threads=1,
            seed=7,
        )
    )
    assert options["binary_operators"] == ["+", "*", "/"]
    assert options["unary_operators"] == ["sin", "exp"]
    assert options["maxsize"] == 20 and options["timeout_in_seconds"] == 12.0
    assert options["random_state"] == 7 and options["deterministic"] is True
    assert options["parallelism"] == "serial"
    threaded = pysr_options(SearchSettings(threads=2))
    assert threaded["deterministic"] is False and threaded["procs"] == 2


def test_pysr_equations_table_to_sympy() -> None:
    rows = [  # as PySRRegressor.equations_.to_dict("records") gives them
        {"equation": "x0 * x1", "complexity": 3, "loss": 0.5},
        {"equation": "((x0 * x1) / square(x2)) * 1.0000002", "complexity": 9, "loss": 1e-12},
        {"equation": "exp(neg(x0)) * cos(x1 ^ 2.0)", "complexity": 8, "loss": 0.1},
    ]
    candidates = equations_to_candidates(rows, ["x0", "x1", "x2"])
    assert [c.complexity for c in candidates] == [3, 8, 9]
    assert candidates[0].expr == x0 * x1
    assert sympy.simplify(candidates[2].expr - 1.0000002 * x0 * x1 / x2**2) == 0
    assert candidates[1].expr == sympy.exp(-x0) * sympy.cos(x1**2.0)


def test_pysr_missing_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    with pytest.raises(MissingDependencyError, match="PySR") as caught:
        get_engine("pysr").fit(np.zeros((4, 1)), np.zeros(4), ["x0"], SearchSettings())
    assert "nnc[pysr]" in caught.value.hint


def test_pysr_without_julia_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    fake = tmp_path / "pysr.py"  # stands for PySR failing to fetch Julia at import
    fake.write_text("raise RuntimeError('could not download Julia: no network')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "pysr", raising=False)
    with pytest.raises(MissingDependencyError, match="could not start Julia") as caught:
        get_engine("pysr").fit(np.zeros((4, 1)), np.zeros(4), ["x0"], SearchSettings())
    assert "Julia" in caught.value.hint and "--engine operon" in caught.value.hint


def test_unknown_engine_suggests_the_right_name() -> None:
    with pytest.raises(InputError, match="unknown engine 'operonn'") as caught:
        nnc.compile(nn.Linear(1, 1), ["x:float[1]=0..1"], engine="operonn")
    assert "operon" in caught.value.hint


def test_error_against_labelled_data() -> None:
    x = np.random.default_rng(0).uniform(1, 3, size=(500, 3)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] / x[:, 2] ** 2)[:, None]
    artifact = nnc.compile(
        ROOT / "examples" / "laws" / "gravity.pt2", engine="basis", labels=(x, y)
    )
    truth = artifact.report.truth
    assert truth["artifact_max_rel_error"] < 1e-6  # the law itself, up to float32 inputs
    assert truth["network_max_rel_error"] > 10 * truth["artifact_max_rel_error"]
    assert "against the labelled data" in artifact.report.text()


def test_the_options_name_exactly_the_engines_there_are() -> None:
    from nnc.options import ENGINES as NAMES
    from nnc.passes.engines import ENGINES

    assert tuple(ENGINES) == NAMES


class Products(nn.Module):
    """Two outputs, each the product of two linear layers' outputs: x0·x1 and x0² + x0."""

    def __init__(self) -> None:
        super().__init__()
        self.left, self.right = nn.Linear(2, 2), nn.Linear(2, 2)
        with torch.no_grad():
            self.left.weight.copy_(torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
            self.left.bias.zero_()
            self.right.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
            self.right.bias.copy_(torch.tensor([0.0, 1.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.left(x) * self.right(x)


def test_outputs_searched_on_workers_give_the_same_formulas() -> None:
    """Calibration data: each output is one regression on samples, run on the fan-out — the
    same fronts and laws on two workers as in this process, both equal to the network."""
    model = Products()
    x = np.random.default_rng(0).uniform(-1, 1, size=(400, 2)).astype(np.float32)
    options = {"engine": "basis", "sr_samples": 300}
    serial = nnc.compile(model, {"x": torch.from_numpy(x)}, workers=1, **options)
    pooled = nnc.compile(model, {"x": torch.from_numpy(x)}, workers=2, **options)
    fanout = pooled.report.fanout
    assert fanout["engine"] == "local" and fanout["tasks"] == 2
    assert fanout["startup_seconds"] is not None, "the searches ran on the workers"
    assert _fronts(serial) == _fronts(pooled)
    assert serial.report.closed_form == pooled.report.closed_form
    found = sympy.sympify(serial.report.closed_form)
    assert [sympy.expand(law) for law in found] == [x0 * x1, x0**2 + x0]
    expected = network_output(model, x)
    for artifact in (serial, pooled):
        np.testing.assert_allclose(artifact(x), expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)


@pytest.mark.slow
def test_engine_searches_on_workers_give_the_same_formulas() -> None:
    """The network as an oracle: the fits and splits run here, output by output, and the operon
    searches they ask for run on the workers — the same approximations as a serial run."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid())
    spec = "x:float[2]=-2..2"
    options = {"approximate_formulas": True, "sr_evaluations": 3000, "sr_samples": 300}
    serial = nnc.compile(model, [spec], workers=1, **options)
    pooled = nnc.compile(model, [spec], workers=2, **options)
    fanout = pooled.report.fanout
    assert fanout["engine"] == "local" and fanout["tasks"] == 2
    assert fanout["startup_seconds"] is not None, "the searches ran on the workers"
    (record,) = [r for r in pooled.report.passes if r.name == "sr"]
    assert sum("operon search on x0, x1" in note for note in record.notes) == 2
    assert _fronts(serial) == _fronts(pooled)
    assert serial.report.closed_form == pooled.report.closed_form
    assert len(sympy.sympify(serial.report.closed_form)) == 2
    x = np.random.default_rng(1).uniform(-2, 2, size=(500, 2)).astype(np.float32)
    expected = network_output(model, x)
    for artifact in (serial, pooled):
        assert relative_errors(artifact(x), expected).max_rel <= GATE_MAX


def _fronts(artifact: nnc.Artifact) -> list[list[str]]:
    """Every output's Pareto front, as formulas."""
    (record,) = [r for r in artifact.report.passes if r.name == "sr"]
    return [[c["formula"] for c in s["front"]] for s in record.data[REGRESSION_DATA]]
