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
import torch
from nnc.ops import Op
from nnc.passes.explain import fourier_spectrum, key_frequencies, restrict_to_frequencies

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "examples" / "grokking" / "modadd.pt2"
SPEC = "tokens:int[3]=[a:0..112, b:0..112, 113]"
UNCHECKED_INSTRUCTIONS = 6  # add, compare, subtract, select, return (outside="allow")
CHECKED_INSTRUCTIONS = 12  # and the domain check of a and b (outside="check", the default)


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


def test_network_itself_computes_modular_addition() -> None:
    network = torch.export.load(str(CHECKPOINT)).module()
    x, y = np.meshgrid(np.arange(113), np.arange(113), indexing="ij")
    tokens = torch.tensor(np.stack([x.ravel(), y.ravel(), np.full(x.size, 113)], axis=1))
    with torch.no_grad():
        predictions = network(tokens).argmax(-1).numpy()
    assert (predictions == (x.ravel() + y.ravel()) % 113).mean() == 1.0


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
    assert "modadd(100, 50) = 37" in printed and "12769/12769" in printed
    body = _instructions(path, "modadd")
    assert len(body) <= CHECKED_INSTRUCTIONS, body  # the domain check: two compares, a select
    unchecked = compiled.save(tmp_path / "unchecked.so", name="modadd", outside="allow")
    body = _instructions(unchecked, "modadd")
    assert len(body) <= UNCHECKED_INSTRUCTIONS, body


def _instructions(library: Path, symbol: str) -> list[str]:
    """The disassembled instructions of one exported function."""
    disassembly = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", str(library)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return disassembly.split(f"<{symbol}>:")[1].split("\n\n")[0].strip().splitlines()


def test_fourier_analysis_of_the_embedding() -> None:
    program = torch.export.load(str(CHECKPOINT))
    embedding = program.state_dict["embed.W_E"].detach().double()
    spectrum = fourier_spectrum(embedding[:113].numpy())
    keys = key_frequencies(spectrum)
    assert 2 <= len(keys) <= 6  # a sparse spectrum: a few key frequencies, as in the paper
    assert spectrum[keys].sum() / spectrum[1:].sum() > 0.4
    restricted = restrict_to_frequencies(embedding, 113, keys)
    assert torch.equal(restricted[113], embedding[113])  # the "=" token is left alone
    # restricting to every frequency changes nothing
    full = restrict_to_frequencies(embedding, 113, list(range(1, 57)))
    torch.testing.assert_close(full, embedding)


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
