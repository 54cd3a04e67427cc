"""Generated LLVM IR: every module of a few simple kernels re-parses and passes LLVM's verifier
(before and after optimisation), and the IR of emitters unlikely to change soon — closed forms
(EXPR) and a data-movement op — is compared with golden text.

Only named functions are compared, with what varies between hosts and builds normalised away (the
triple, the data layout, the metadata JSON are not in a function body). After an intended change,
regenerate with `NNC_UPDATE_GOLDEN=1 python -m pytest tests/backends/test_golden_ir.py` and review
the diff of tests/golden/*.ll. Elementwise, reduction and matmul kernels are being rewritten, so
they are verified here but have no golden text yet.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import llvmlite.binding as llvm
import pytest
import sympy
import torch
from helpers import assert_golden
from nnc.backends import get_backend
from nnc.backends.entrypoints import build_module
from nnc.backends.interface import make_abi
from nnc.graph import Graph
from nnc.ops import Op
from nnc.spec_grammar import parse_inputs


def _expr_graph(expr: sympy.Expr, dtype: str) -> Graph:
    """One EXPR node over a two-element input, as lower, sr and synth leave it."""
    graph = Graph()
    x = graph.add(Op.INPUT, name="x", shape=(1, 2), dtype=dtype)
    names = sorted(expr.free_symbols, key=str)
    attrs = {
        "expr": expr,
        "bindings": tuple((s.name, 0, i) for i, s in enumerate(names)),
        "shape": (1,),
        "dtype": dtype,
    }
    graph.outputs = [graph.add(Op.EXPR, [x], attrs, name="y")]
    return graph


def _modadd() -> Graph:
    a, b = sympy.symbols("a b", integer=True)
    return _expr_graph(sympy.Mod(a + b, 113), "int64")


def _law() -> Graph:
    x0, x1 = sympy.symbols("x0 x1")
    return _expr_graph(sympy.cos(x0) * sympy.exp(-x1) + x0**2 / 2, "float64")


def _unary_chain(*ops: Op, attrs: dict | None = None) -> Callable[[], Graph]:
    def build() -> Graph:
        graph = Graph()
        value = graph.add(Op.INPUT, name="x", shape=(1, 2, 3), dtype="float64")
        for op in ops:
            value = graph.add(op, [value], attrs or {})
        graph.outputs = [value]
        return graph

    return build


def _matmul() -> Graph:
    graph = Graph()
    x = graph.add(Op.INPUT, name="x", shape=(1, 3), dtype="float64")
    w = graph.add(Op.CONST, value=torch.arange(6, dtype=torch.float64).reshape(3, 2), name="w")
    graph.outputs = [graph.add(Op.MATMUL, [x, w], name="y")]
    return graph


# name → (graph builder, input spec, functions compared with golden text)
KERNELS: dict[str, tuple[Callable[[], Graph], str, tuple[str, ...]]] = {
    "modadd": (_modadd, "x:int[2]=[a:0..112, b:0..112]", ("modadd", "modadd_batch_i64")),
    "law": (_law, "x:double[2]=0..3", ("law",)),
    "permute": (
        _unary_chain(Op.PERMUTE, attrs={"dims": (0, 2, 1)}),
        "x:double[2, 3]=0..1",
        ("nnc_kernel",),
    ),
    "tanh": (_unary_chain(Op.TANH), "x:double[2, 3]=0..1", ()),
    "sum": (
        _unary_chain(Op.SUM, attrs={"dims": (2,), "keepdim": False}),
        "x:double[2, 3]=0..1",
        (),
    ),
    "matmul": (_matmul, "x:double[3]=0..1", ()),
}

_FUNCTION = re.compile(r'^define [^\n]*@"(?P<name>[^"]+)"\(.*?^\}$', re.DOTALL | re.MULTILINE)


def _functions(module_text: str) -> dict[str, str]:
    """Each function definition of a module's text, by name."""
    return {m["name"]: m[0] for m in _FUNCTION.finditer(module_text)}


def _module(name: str) -> tuple[Graph, str]:
    build, spec, _ = KERNELS[name]
    graph = build()
    abi = make_abi(name, graph, parse_inputs([spec]), {"golden": name})
    return graph, str(build_module(graph, abi))


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_generated_ir_reparses_and_verifies(name: str) -> None:
    graph, text = _module(name)
    parsed = llvm.parse_assembly(text)
    parsed.verify()
    assert {f.name for f in parsed.functions} >= {f"{name}_eval", f"{name}_eval_batch"}
    abi = make_abi(name, graph, parse_inputs([KERNELS[name][1]]), {})
    llvm.parse_assembly(get_backend().ir(graph, abi, optimized=True)).verify()


@pytest.mark.parametrize("name", sorted(n for n, (_, _, golden) in KERNELS.items() if golden))
def test_closed_form_and_movement_ir_match_the_golden_text(name: str) -> None:
    _, text = _module(name)
    functions = _functions(text)
    compared = [functions[f] for f in KERNELS[name][2]]
    assert_golden(f"ir_{name}.ll", "\n\n".join(compared))


def test_function_extraction_sees_every_definition() -> None:
    _, text = _module("modadd")
    assert len(_functions(text)) == text.count("\ndefine ") + text.startswith("define ")
