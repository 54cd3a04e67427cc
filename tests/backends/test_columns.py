"""Typed column-wise entries: they agree with NAME_eval_batch, and narrowing to int32 lanes is
sound (random integer programs and domains, every point including the edges)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import llvmlite.binding as llvm
import nnc
import numpy as np
import pytest
import sympy
from helpers import FLOAT32_ATOL, FLOAT32_RTOL, instructions
from hypothesis import given
from hypothesis import strategies as st
from models import LookupNetwork
from nnc.backends import get_backend
from nnc.backends.interface import make_abi
from nnc.expr_ranges import fits_int32
from nnc.graph import Graph
from nnc.ops import Op
from nnc.spec_grammar import parse_spec

a, b = sympy.symbols("a b", integer=True)


def _program_graph(expr: sympy.Expr, bounds: dict[str, tuple[int, int]]) -> Graph:
    graph = Graph()
    x = graph.add(Op.INPUT, name="x", shape=(1, 2), dtype="int64")
    attrs = {
        "expr": expr,
        "bindings": (("a", 0, 0), ("b", 0, 1)),
        "bounds": bounds,
        "shape": (1,),
        "dtype": "int64",
    }
    graph.outputs = [graph.add(Op.EXPR, [x], attrs, name="program")]
    return graph


def _compile(expr: sympy.Expr, a_range: tuple[int, int], b_range: tuple[int, int]):
    spec = parse_spec(f"x:int[2]=[a:{a_range[0]}..{a_range[1]}, b:{b_range[0]}..{b_range[1]}]")
    graph = _program_graph(expr, {"a": a_range, "b": b_range})
    abi = make_abi("program", graph, [spec], {})
    return get_backend().jit(graph, abi, "raw"), abi


def _edges_and_inside(lo: int, hi: int) -> np.ndarray:
    inside = np.linspace(lo, hi, num=min(hi - lo + 1, 40)).astype(np.int64)
    return np.unique(np.concatenate([[lo, lo + 1, hi - 1, hi], inside]).clip(lo, hi))


def _python_reference(expr: sympy.Expr, av: np.ndarray, bv: np.ndarray) -> np.ndarray:
    function = sympy.lambdify([a, b], expr, "numpy")
    return np.broadcast_to(function(av.astype(object), bv.astype(object)), av.shape).astype(
        np.int64
    )


expressions = st.sampled_from(
    [
        sympy.Mod(a + b, 113),
        sympy.Mod(a - b, 97),
        sympy.Mod(a * b, 101),
        a * a + b,
        sympy.Max(a, b) - sympy.Min(a, b),
        sympy.Mod(a * a + b, 13),
        3 * a - 7 * b + 5,
        sympy.Mod(a + b, 7) * a,
        sympy.floor(a / 3) + b,
    ]
)
ranges = st.tuples(st.integers(-200, 200), st.integers(0, 400)).map(lambda t: (t[0], t[0] + t[1]))


@given(expressions, ranges, ranges)
def test_narrowed_code_equals_int64_reference(expr: sympy.Expr, a_range, b_range) -> None:
    native, abi = _compile(expr, a_range, b_range)
    grid_a, grid_b = np.meshgrid(_edges_and_inside(*a_range), _edges_and_inside(*b_range))
    av, bv = grid_a.ravel(), grid_b.ravel()
    expected = _python_reference(expr, av, bv)
    wide = native.columns(av.astype(np.int64), bv.astype(np.int64))
    np.testing.assert_array_equal(wide, expected)
    if "i32" in abi.columns:
        narrow = native.columns(av.astype(np.int32), bv.astype(np.int32))
        assert narrow.dtype == np.int32
        np.testing.assert_array_equal(narrow.astype(np.int64), expected)
    rows = native.run(np.stack([av, bv], axis=1).astype(np.float64)).ravel()
    np.testing.assert_array_equal(rows.astype(np.int64), expected)


def test_int32_only_when_every_intermediate_fits() -> None:
    assert fits_int32(sympy.Mod(a + b, 113), {"a": (0, 112), "b": (0, 112)})
    assert not fits_int32(a * b, {"a": (0, 10**6), "b": (0, 10**6)})
    _, abi = _compile(a * b, (0, 10**6), (0, 10**6))
    assert abi.columns == ("i64",)


def _check_modular_sum_columns(path: Path, p: int, constant: list[int]) -> None:
    """The library at `path` computes (a + b) mod p through eval_batch and its typed columns."""
    library = nnc.load(path)
    header = path.with_suffix(".h").read_text()
    assert "_batch_i32(int64_t n, const int32_t *a, const int32_t *b, int32_t *out);" in header
    x, y = np.meshgrid(np.arange(p), np.arange(p))
    x, y = x.ravel(), y.ravel()
    rows = library(np.stack([x, y, *[np.full_like(x, c) for c in constant]], axis=1))
    np.testing.assert_array_equal(rows, (x + y) % p)
    np.testing.assert_array_equal(library.columns(x.astype(np.int32), y.astype(np.int32)), rows)
    np.testing.assert_array_equal(library.columns(x, y), rows)


def test_a_modular_sum_gets_int32_columns_that_agree_with_eval_batch(tmp_path) -> None:
    model = LookupNetwork(lambda a, b: (a + b) % 23, [23, 23], 23)
    artifact = nnc.compile(model, ["x:int[2]=[a:0..22, b:0..22]"], output="argmax")
    path = artifact.save(tmp_path / "modsum.so")
    _check_modular_sum_columns(path, 23, [])
    # the verified domain (a, b ≤ 22) lets `mod` become a compare and a subtract
    assert "int64_t modsum(int64_t a, int64_t b);" in path.with_suffix(".h").read_text()
    body = instructions(path, "modsum")
    assert len(body) <= 12, body  # with the domain check of a and b (outside="check")
    unchecked = artifact.save(tmp_path / "unchecked.so", name="modsum", outside="allow")
    body = instructions(unchecked, "modsum")
    assert len(body) <= 6, body  # add, compare, subtract, select, return


@pytest.mark.slow
def test_flagship_typed_entries_agree_with_eval_batch(tmp_path) -> None:
    artifact = nnc.compile(Path(__file__).resolve().parents[2] / "examples/grokking/modadd.pt2")
    _check_modular_sum_columns(artifact.save(tmp_path / "modadd.so"), 113, [113])


def test_real_valued_law_has_float_columns(tmp_path) -> None:
    law = Path(__file__).resolve().parents[2] / "examples/laws/kinetic.pt2"
    artifact = nnc.compile(law, engine="basis")
    library = nnc.load(artifact.save(tmp_path / "kinetic.so"))
    x0 = np.linspace(0, 2, 50)
    x1 = np.linspace(2, 0, 50)
    rows = library(np.stack([x0, x1], axis=1)).ravel()
    np.testing.assert_allclose(library.columns(x0, x1), rows, rtol=1e-7)
    np.testing.assert_allclose(
        library.columns(x0.astype(np.float32), x1.astype(np.float32)), rows, rtol=1e-6
    )


def _law(cpu: str = "host") -> tuple[Graph, Any, Any]:
    """cos(x0)·exp(-x1) as one EXPR node: its batch loops vectorise the two libm calls."""
    x0, x1 = sympy.symbols("x0 x1")
    graph = Graph()
    x = graph.add(Op.INPUT, name="x", shape=(1, 2), dtype="float64")
    attrs = {
        "expr": sympy.cos(x0) * sympy.exp(-x1),
        "bindings": (("x0", 0, 0), ("x1", 0, 1)),
        "shape": (1,),
        "dtype": "float64",
    }
    graph.outputs = [graph.add(Op.EXPR, [x], attrs, name="law")]
    return (
        graph,
        make_abi("law", graph, [parse_spec("x:double[2]=0..3")], {}),
        get_backend("llvm", cpu),
    )


LAW_POINTS = np.random.default_rng(0).uniform(0, 3, (2, 100_000))
# libmvec documents at most 4 ulp per function; two functions and a product: 1e-14 relative
LIBMVEC_RTOL = 1e-14


def test_vector_math_keeps_its_accuracy_and_links_libmvec_when_it_calls_it(tmp_path) -> None:
    graph, abi, backend = _law()
    a, b = LAW_POINTS
    got = backend.jit(graph, abi, "raw").columns(a, b)
    np.testing.assert_allclose(got, np.cos(a) * np.exp(-b), rtol=LIBMVEC_RTOL, atol=1e-300)
    backend.write(graph, abi, tmp_path / "law.so")
    needed = subprocess.run(
        ["ldd", str(tmp_path / "law.so")], capture_output=True, text=True, check=True
    ).stdout
    calls_libmvec = "_ZGV" in backend.ir(graph, abi, optimized=True)
    assert ("libmvec" in needed) == calls_libmvec  # linked exactly when the code calls it


@pytest.mark.skipif(
    "+avx2" not in llvm.get_host_cpu_features().flatten(),
    reason="libmvec's 4-lane double variants need AVX2, which this host lacks",
)
def test_on_an_avx2_host_the_batch_loop_calls_libmvec() -> None:
    graph, abi, backend = _law()
    optimized = backend.ir(graph, abi, optimized=True)
    assert re.search(r"call <\d+ x double> @_ZGV[de]N\d+v_cos", optimized)
    assert re.search(r"call <\d+ x double> @_ZGV[de]N\d+v_exp", optimized)


def test_a_generic_build_computes_float32_columns_right() -> None:
    """A --cpu generic (SSE2) build calls only libmvec's SSE variants (vectors wider than its
    registers stay libm calls): every lane of the float32 column loop comes out right."""
    graph, abi, backend = _law("generic")
    assert not re.search(r"@_ZGV[cde]", backend.ir(graph, abi, optimized=True))
    a, b = LAW_POINTS.astype(np.float32)
    got = backend.jit(graph, abi, "raw").columns(a, b)
    expected = np.cos(a.astype(np.float64)) * np.exp(-b.astype(np.float64))
    np.testing.assert_allclose(got, expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)


def test_boolean_if_then_else_from_logic_simplification_compiles() -> None:
    """synth's boolean formulas can hold ITE(c, t, f) inside a Piecewise (sympy's simplified
    logic); the backend computes it as select(c, t, f) on every point."""
    expr = sympy.Piecewise((1, sympy.ITE(b < 2, a < 6, a < 3)), (0, True))
    native, _ = _compile(expr, (0, 5), (0, 5))
    av, bv = (grid.ravel() for grid in np.meshgrid(np.arange(6), np.arange(6)))
    got = native.run(np.stack([av, bv], axis=1).astype(np.float64)).ravel()
    expected = np.where(bv < 2, av < 6, av < 3).astype(np.float64)
    np.testing.assert_array_equal(got, expected)
