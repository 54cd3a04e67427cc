"""The flagship: the shipped grokking checkpoint compiles to (a + b) mod 113, verified on all
12,769 inputs, callable from C as a few instructions, with its Fourier mechanism reported."""

from __future__ import annotations

import ctypes
import re
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
README = ROOT / "examples" / "grokking" / "README.md"
SPEC = "tokens:int[3]=[a:0..112, b:0..112, 113]"
UNCHECKED_INSTRUCTIONS = 6  # add, compare, subtract, select, return (outside="allow")
CHECKED_INSTRUCTIONS = 12  # and the domain check of a and b (outside="check", the default)


@pytest.fixture(scope="module")
def compiled(grokking: nnc.Artifact) -> nnc.Artifact:
    return grokking


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


def test_explain_reports_frequencies_and_ablation(compiled: nnc.Artifact) -> None:
    (explain,) = [r for r in compiled.report.passes if r.name == "explain"]
    text = " ".join(explain.notes)
    assert "key frequencies" in text and "ablation" in text and not explain.changed
    agreed = int(text.split("agrees with itself on ")[1].split("/")[0])
    assert agreed >= 0.95 * 12769
    names = [r.name for r in compiled.report.passes]
    assert names.index("explain") < names.index("prune")  # evidence about the network as given


def _readme_block(after: str) -> str:
    rest = README.read_text().split(after, 1)[1]
    return rest.split("```", 2)[1].split("\n", 1)[1]


def test_readme_printout_is_what_nnc_prints(compiled: nnc.Artifact) -> None:
    """The example README's abridged printout (the ablation figure included) is re-derived."""
    printed = " ".join(compiled.report.text().split())
    for line in _readme_block("What nnc prints").strip().splitlines():
        assert " ".join(line.split()) in printed, line
    agreed = int(re.search(r"agrees with itself on (\d+)/12769", printed)[1])
    share = re.search(r"on ([\d.]+)% of all inputs \(([\d,]+) of 12,769\)", README.read_text())
    assert int(share[2].replace(",", "")) == agreed
    assert float(share[1]) == round(100 * agreed / 12769, 1)


def test_readme_disassembly_is_the_library(compiled: nnc.Artifact, tmp_path: Path) -> None:
    """A few instructions, and exactly those the READMEs quote (README: four, then ret) for the
    unchecked entry; the default entry adds the domain check of a and b."""
    checked = instructions(compiled.save(tmp_path / "modadd.so"), "modadd")
    assert len(checked) <= CHECKED_INSTRUCTIONS, checked
    path = compiled.save(tmp_path / "unchecked.so", name="modadd", outside="allow")
    got = [line.split("\t")[1].split()[0] for line in instructions(path, "modadd")]
    assert len(got) <= UNCHECKED_INSTRUCTIONS, got
    quoted = _readme_block("one compare and one subtract").split("<modadd>:\n")[1]
    expected = [line.split("\t")[1].split()[0] for line in quoted.strip().splitlines()]
    assert got == expected
    words = {"three": 3, "four": 4, "five": 5, "six": 6}
    count = re.search(r"as (\w+) machine\s+instructions", (ROOT / "README.md").read_text())[1]
    assert len(got) == words[count] + 1  # and a ret


def test_markdown_report_with_the_spectrum_plot(compiled: nnc.Artifact, tmp_path: Path) -> None:
    path = compiled.report.write(tmp_path / "report.md")
    text = path.read_text()
    assert "**Closed form:** `(a + b) mod 113`" in text and "12769/12769" in text
    assert "![embedding spectrum](report-spectrum.png)" in text
    assert (tmp_path / "report-spectrum.png").stat().st_size > 1000
