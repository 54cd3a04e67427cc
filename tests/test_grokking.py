"""The flagship: the shipped grokking checkpoint compiles to (a + b) mod 113, verified on all
12,769 inputs, callable from C as a few instructions, with its Fourier mechanism reported."""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path

import nnc
import numpy as np
import pytest
import sympy
from helpers import instructions
from nnc.ops import Op

# the flagship compile searches programs over all 12,769 inputs (minutes on 2 busy cores); the
# default run covers the same features on small problems: synth (tests/passes/test_synth.py),
# explain (tests/passes/test_explain.py), int32 columns and the tiny scalar entry
# (tests/backends/test_columns.py)
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "examples" / "grokking" / "modadd.pt2"
SPEC = "tokens:int[3]=[a:0..112, b:0..112, 113]"


@pytest.fixture(scope="module")
def compiled() -> nnc.Artifact:
    return nnc.compile(CHECKPOINT, [SPEC], output="argmax")


def test_closed_form_is_modular_addition(compiled: nnc.Artifact) -> None:
    node = compiled.graph[compiled.graph.outputs[0]]
    assert node.op is Op.EXPR
    a, b = sympy.symbols("a b", integer=True)
    expr = node.attrs["expr"].subs(
        {sympy.Symbol("a", integer=True): a, sympy.Symbol("b", integer=True): b}
    )
    function = sympy.lambdify([a, b], expr, "numpy")
    x, y = np.meshgrid(np.arange(113), np.arange(113), indexing="ij")
    np.testing.assert_array_equal(function(x, y), (x + y) % 113)
    assert compiled.report.closed_form == "(a + b) mod 113"


def test_verified_on_all_12769_inputs(compiled: nnc.Artifact) -> None:
    fidelity = compiled.report.fidelity
    assert fidelity.complete and fidelity.points == fidelity.agreement == 12769
    assert "12769/12769" in compiled.report.text()


def test_the_artifact_computes_modular_addition_on_every_input(compiled: nnc.Artifact) -> None:
    """Against ground truth, not only against the network: native code on all 12,769 inputs."""
    x, y = np.meshgrid(np.arange(113), np.arange(113), indexing="ij")
    tokens = np.stack([x.ravel(), y.ravel(), np.full(x.size, 113)], axis=1)
    np.testing.assert_array_equal(compiled(tokens), (x.ravel() + y.ravel()) % 113)


def test_scalar_call_from_c_is_a_few_instructions(compiled: nnc.Artifact, tmp_path: Path) -> None:
    path = compiled.save(tmp_path / "modadd.so")
    assert "int64_t modadd(int64_t a, int64_t b);" in path.with_suffix(".h").read_text()
    library = ctypes.CDLL(str(path))
    library.modadd.restype = ctypes.c_int64
    library.modadd.argtypes = [ctypes.c_int64, ctypes.c_int64]
    assert [library.modadd(a, b) for a, b in [(0, 0), (100, 50), (112, 112), (56, 57)]] == [
        0,
        37,
        111,
        0,
    ]
    binary = tmp_path / "modadd"
    subprocess.run(
        [
            "cc",
            "-O2",
            f"-I{tmp_path}",
            str(ROOT / "examples/grokking/main.c"),
            str(path),
            "-o",
            str(binary),
            f"-Wl,-rpath,{tmp_path}",
        ],
        check=True,
    )
    printed = subprocess.run(
        [str(binary), "100", "50"], capture_output=True, text=True, check=True
    ).stdout
    assert "modadd(100, 50) = 37" in printed
    assert "on 12769/12769 pairs (modadd_inline: 12769/12769)" in printed
    body = instructions(path, "modadd")
    assert len(body) <= 6, body


def test_explain_reports_frequencies_and_ablation(compiled: nnc.Artifact) -> None:
    (explain,) = [r for r in compiled.report.passes if r.name == "explain"]
    text = " ".join(explain.notes)
    assert "key frequencies" in text and "ablation" in text and not explain.changed
    agreed = int(text.split("agrees with itself on ")[1].split("/")[0])
    assert agreed >= 0.95 * 12769


def test_markdown_report_with_the_spectrum_plot(compiled: nnc.Artifact, tmp_path: Path) -> None:
    path = compiled.report.write_markdown(tmp_path / "report.md")
    text = path.read_text()
    assert "**Closed form:** `(a + b) mod 113`" in text and "12769/12769" in text
    assert "![embedding spectrum](report-spectrum.png)" in text
    assert (tmp_path / "report-spectrum.png").stat().st_size > 1000
