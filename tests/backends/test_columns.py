"""Typed column-wise entries: they agree with NAME_eval_batch, and narrowing to int32 lanes is
sound (random integer programs and domains, every point including the edges)."""

from __future__ import annotations

import nnc
import numpy as np
import sympy
from hypothesis import given
from hypothesis import strategies as st
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


def test_flagship_typed_entries_agree_with_eval_batch(grokking: nnc.Artifact, tmp_path) -> None:
    library = nnc.load(grokking.save(tmp_path / "modadd.so"))
    header = (tmp_path / "modadd.h").read_text()
    assert (
        "int modadd_batch_i32(int64_t n, const int32_t *a, const int32_t *b, int32_t *out);"
        in header
    )
    x, y = np.meshgrid(np.arange(113), np.arange(113))
    x, y = x.ravel(), y.ravel()
    tokens = np.stack([x, y, np.full_like(x, 113)], axis=1)
    rows = library(tokens)
    np.testing.assert_array_equal(library.columns(x.astype(np.int32), y.astype(np.int32)), rows)
    np.testing.assert_array_equal(library.columns(x, y), rows)


def test_real_valued_law_has_float_columns(tmp_path) -> None:
    from pathlib import Path

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


def test_vector_math_calls_libmvec_and_keeps_its_accuracy(tmp_path) -> None:
    import subprocess

    import llvmlite.binding as llvm

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
    abi = make_abi("law", graph, [parse_spec("x:double[2]=0..3")], {})
    backend = get_backend()
    optimized = backend.ir(graph, abi, optimized=True)
    if "+avx2" in llvm.get_host_cpu_features().flatten():
        assert "_ZGV" in optimized  # the batch loop calls libmvec
    native = backend.jit(graph, abi, "raw")
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 3, 100_000), rng.uniform(0, 3, 100_000)
    expected = np.cos(a) * np.exp(-b)
    got = native.columns(a, b)
    # libmvec documents at most 4 ulp per function; two functions and a product: 1e-14 relative
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=1e-300)
    backend.write(graph, abi, tmp_path / "law.so")
    needed = subprocess.run(
        ["ldd", str(tmp_path / "law.so")], capture_output=True, text=True
    ).stdout
    assert "libmvec" in needed or "_ZGV" not in optimized
