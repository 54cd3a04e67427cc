"""The inline C form (NAME_inline in the header): it computes what the library computes — integer
programs exactly, with Python's floor semantics for mod and // where C truncates; real ones to
rounding — and a closed-form artifact ships it only after checking it on the verification points."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import nnc
import numpy as np
import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st
from models import LookupNetwork
from nnc.artifact import INLINE_TOLERANCE
from nnc.backends import get_backend
from nnc.backends.header import render_header
from nnc.backends.inline_c import compile_inline, inline_form
from nnc.backends.interface import make_abi
from nnc.graph import Graph
from nnc.ops import Op
from nnc.spec_grammar import parse_spec

ROOT = Path(__file__).resolve().parents[2]
a, b = sympy.symbols("a b", integer=True)
x0, x1 = sympy.symbols("x0 x1", real=True)


def _graph(expr: sympy.Expr, dtype: str, bounds: dict | None = None) -> Graph:
    graph = Graph()
    x = graph.add(Op.INPUT, name="x", shape=(1, 2), dtype=dtype)
    names = sorted(s.name for s in (a, b)) if dtype == "int64" else ["x0", "x1"]
    attrs = {
        "expr": expr,
        "bindings": tuple((name, 0, k) for k, name in enumerate(names)),
        "bounds": bounds or {},
        "shape": (1,),
        "dtype": dtype,
    }
    graph.outputs = [graph.add(Op.EXPR, [x], attrs, name="form")]
    return graph


def _library_and_inline(graph: Graph, spec: str, folder: Path):
    """The JIT library and the inline form built from its header, for one closed form."""
    abi = make_abi("form", graph, [parse_spec(spec)], {"closed_form": "test"})
    form = inline_form(graph, abi)
    assert form is not None
    native = get_backend().jit(graph, abi, "raw")
    return native, compile_inline(render_header(abi, form, 0), abi, folder), form


def _grid(lo: int, hi: int) -> np.ndarray:
    inside = np.linspace(lo, hi, num=min(hi - lo + 1, 25)).astype(np.int64)
    return np.unique(np.concatenate([[lo, lo + 1, hi - 1, hi], inside]).clip(lo, hi))


def _python(expr: sympy.Expr, av: np.ndarray, bv: np.ndarray) -> np.ndarray:
    """Python's own integer semantics (floor mod and division), on Python ints."""
    function = sympy.lambdify([a, b], expr, "numpy")
    values = function(av.astype(object), bv.astype(object))
    return np.broadcast_to(values, av.shape).astype(np.int64)


integer_programs = st.sampled_from(
    [
        sympy.Mod(a + b, 113),
        sympy.Mod(a - b, 7),
        sympy.Mod(a * b, -5),
        sympy.floor(a / 3) + b,
        sympy.floor((a - b) / 4),
        sympy.Max(a, b) - sympy.Min(a, b),
        3 * a - 7 * b + 5,
        a**3 - b**2,
        sympy.Piecewise((a, a > b), (b - 1, sympy.Eq(a, b)), (a * b, True)),
    ]
)
ranges = st.tuples(st.integers(-300, 300), st.integers(0, 300)).map(lambda t: (t[0], t[0] + t[1]))


@given(integer_programs, ranges, ranges, st.booleans())
def test_integer_forms_equal_python_and_the_library(
    tmp_path_factory, expr, a_range, b_range, bounded
):
    """Negative operands included: C's % and / truncate, the inline form must floor as Python
    does; with the verified bounds the mod becomes a compare-subtract, as in the library."""
    bounds = {"a": a_range, "b": b_range} if bounded else None
    spec = f"x:int[2]=[a:{a_range[0]}..{a_range[1]}, b:{b_range[0]}..{b_range[1]}]"
    folder = tmp_path_factory.mktemp("inline")
    native, inline, _ = _library_and_inline(_graph(expr, "int64", bounds), spec, folder)
    grid_a, grid_b = np.meshgrid(_grid(*a_range), _grid(*b_range))
    av, bv = grid_a.ravel(), grid_b.ravel()
    rows = np.stack([av, bv], axis=1).astype(np.float64)
    got = inline(rows)
    np.testing.assert_array_equal(got.astype(np.int64), _python(expr, av, bv))
    np.testing.assert_array_equal(got, native.run(rows).ravel())


real_forms = st.sampled_from(
    [
        x0 * x1 / x1**2,
        sympy.sin(x0) * sympy.exp(-x1) + sympy.cos(x1),
        sympy.sqrt(x0**2 + x1**2),
        sympy.Mod(x0 - 2 * x1, 1.5),
        sympy.floor(x0 * 3) - x1,
        sympy.Piecewise((x0, x0 > x1), (x1**3, True)),
        sympy.Min(x0, x1, 0.25) + sympy.Max(x0, -x1),
        x0 ** sympy.Rational(3, 2) + sympy.pi * sympy.Abs(x1),
        sympy.tanh(x0) + sympy.erf(x1) - sympy.atan(x0 * x1),
        1 / (x0 - x1 + 10),
        sympy.Piecewise((sympy.oo, x0 > 2.5), (x1 - 1, True)),  # INFINITY needs <math.h>
    ]
)


@given(real_forms)
def test_real_forms_agree_with_the_library(tmp_path_factory, expr):
    folder = tmp_path_factory.mktemp("inline")
    native, inline, _ = _library_and_inline(_graph(expr, "float64"), "x:double[2]=-3..3", folder)
    rng = np.random.default_rng(0)
    rows = rng.uniform(0.1, 3, size=(2000, 2)) * rng.choice([-1, 1], size=(2000, 2))
    expected = native.run(rows).ravel()
    got = inline(rows)
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(np.isfinite(got), finite)
    scale = np.abs(expected[finite]).max()
    assert np.abs(got[finite] - expected[finite]).max() <= INLINE_TOLERANCE * scale


def _check_inline_modular_sum(library: Path, p: int, constants: list[int]) -> None:
    """The header's NAME_inline in a C program that uses it, built with -O3 -march=native:
    (a + b) mod p on every pair of the domain, as nnc.load of the library computes it too."""
    prefix = library.name.split(".")[0]
    header = library.with_suffix(".h").read_text()
    assert f"static inline int64_t {prefix}_inline(int64_t a, int64_t b) {{" in header
    assert f"checked on {p * p:,} verification points" in header
    assert "It does NOT check the domain" in header  # the library's own scalar form does:
    assert nnc.load(library).scalar(0, p) == -1
    program = library.parent / "all.c"
    program.write_text(
        f'#include "{prefix}.h"\n#include <stdio.h>\n'
        "int main(void) {\n"
        f"    for (int64_t a = 0; a < {p}; a++)\n"
        f"        for (int64_t b = 0; b < {p}; b++)\n"
        f'            printf("%lld\\n", (long long){prefix}_inline(a, b));\n'
        "    return 0;\n}\n"
    )
    binary = library.parent / "all"
    subprocess.run(["cc", "-O3", "-march=native", str(program), "-o", str(binary)], check=True)
    printed = subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout
    got = np.array(printed.split(), dtype=np.int64)
    grid_a, grid_b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    np.testing.assert_array_equal(got, (grid_a + grid_b).ravel() % p)
    fixed = [np.full(p * p, c) for c in constants]
    np.testing.assert_array_equal(
        got, nnc.load(library)(np.stack([grid_a.ravel(), grid_b.ravel(), *fixed], axis=1))
    )


def test_a_modular_sum_inline_form_in_a_c_program(tmp_path: Path) -> None:
    model = LookupNetwork(lambda a, b: (a + b) % 23, [23, 23], 23)
    art = nnc.compile(model, ["x:int[2]=[a:0..22, b:0..22]"], output="argmax")
    _check_inline_modular_sum(art.save(tmp_path / "modsum.so"), 23, [])


@pytest.mark.slow
def test_flagship_inline_form_in_a_c_program(tmp_path: Path) -> None:
    art = nnc.compile(ROOT / "examples/grokking/modadd.pt2")
    _check_inline_modular_sum(art.save(tmp_path / "modadd.so"), 113, [113])


@pytest.mark.skipif(shutil.which("c++") is None, reason="no C++ compiler to check the header with")
def test_header_compiles_as_cpp(tmp_path: Path) -> None:
    graph = _graph(sympy.Mod(a + b, 7) * a, "int64", {"a": (0, 9), "b": (0, 9)})
    abi = make_abi("form", graph, [parse_spec("x:int[2]=[a:0..9, b:0..9]")], {})
    (tmp_path / "form.h").write_text(render_header(abi, inline_form(graph, abi), 100))
    source = tmp_path / "use.cpp"
    source.write_text('#include "form.h"\nint main() { return (int)form_inline(3, 4); }\n')
    subprocess.run(["c++", "-Wall", "-Werror", "-fsyntax-only", str(source)], check=True)


def test_c_keywords_are_renamed(tmp_path: Path) -> None:
    graph = Graph()
    x = graph.add(Op.INPUT, name="x", shape=(1, 2), dtype="int64")
    new, t0 = sympy.symbols("new t0", integer=True)
    attrs = {"expr": new - 2 * t0, "bindings": (("new", 0, 0), ("t0", 0, 1)), "shape": (1,)}
    graph.outputs = [graph.add(Op.EXPR, [x], {**attrs, "dtype": "int64"}, name="form")]
    native, inline, form = _library_and_inline(graph, "x:int[2]=[new:0..9, t0:0..9]", tmp_path)
    assert "form_inline(int64_t arg0, int64_t arg1)" in form.source
    rows = np.array([[5.0, 1.0], [0.0, 9.0]])
    np.testing.assert_array_equal(inline(rows), native.run(rows).ravel())


def test_only_closed_forms_get_an_inline_form(tmp_path: Path) -> None:
    """A small exact network is lowered to its exact expression and gets one; a network too large
    to print keeps its kernel and gets none."""
    import torch

    for width, closed in ((4, True), (64, False)):
        model = torch.nn.Sequential(
            torch.nn.Linear(2, width), torch.nn.Tanh(), torch.nn.Linear(width, 1)
        )
        art = nnc.compile(model, ["x:float[2]=0..1"], mode="exact")
        assert (art.graph[art.graph.outputs[0]].op is Op.EXPR) == closed
        art.save(tmp_path / "net.so")
        assert (
            "double net_inline(double x0, double x1)" in (tmp_path / "net.h").read_text()
        ) == closed


def test_a_disagreeing_inline_form_is_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check can fail: an inline form computing something else stops save() with a
    BackendError, and neither the library nor the header is written."""
    import nnc.artifact as artifact_module

    law = nnc.compile(ROOT / "examples/laws/kinetic.pt2", engine="basis")

    def off_by_a_bit(header: str, abi, folder: Path):
        run = compile_inline(header, abi, folder)
        return lambda rows: run(rows) * (1 + 1e-6)

    monkeypatch.setattr(artifact_module, "compile_inline", off_by_a_bit)
    with pytest.raises(nnc.BackendError, match="kinetic_inline disagrees with the library"):
        law.save(tmp_path / "kinetic.so")
    assert not (tmp_path / "kinetic.so").exists() and not (tmp_path / "kinetic.h").exists()
