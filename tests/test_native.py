"""How passes reach native code: a JitCompiler pickles (so work can go to other processes) and
compiles in the process that holds it, to what the interpreter computes."""

from __future__ import annotations

import pickle

import llvmlite.binding as llvm
import numpy as np
import torch
from nnc.graph import Graph
from nnc.interpret import interpret
from nnc.native import JitCompiler
from nnc.ops import Op
from nnc.spec_grammar import parse_inputs

SPECS = parse_inputs(["x:double[3]=-1..1"])


def _graph() -> Graph:
    graph = Graph()
    x = graph.add(Op.INPUT, name="x", shape=(1, 3), dtype="float64")
    w = graph.add(Op.CONST, value=torch.linspace(-1, 1, 6, dtype=torch.float64).reshape(3, 2))
    graph.outputs = [graph.add(Op.TANH, [graph.add(Op.MATMUL, [x, w])])]
    return graph


def test_a_compiler_survives_pickling_and_compiles_after() -> None:
    compiler = pickle.loads(pickle.dumps(JitCompiler("generic")))
    assert compiler == JitCompiler("generic")
    native = compiler(_graph(), SPECS)
    rows = np.random.default_rng(0).uniform(-1, 1, (5, 3))
    expected = np.concatenate(
        [interpret(_graph(), [torch.from_numpy(row)[None]])[0].numpy() for row in rows]
    )
    # the same double arithmetic in another order: a few ulp apart at most
    np.testing.assert_allclose(native.run(rows), expected, rtol=1e-14, atol=1e-15)


def test_its_ir_verifies_before_and_after_optimisation() -> None:
    compiler = JitCompiler()
    for optimized in (False, True):
        llvm.parse_assembly(compiler.ir(_graph(), SPECS, optimized)).verify()


def test_quick_builds_compute_the_same_to_float_rounding() -> None:
    """The passes' quick builds (no loop unrolling, matmuls as plain loops) change the code's
    speed, and the order of a dot product's sums, not its values: on batches around the tile
    size they agree with the full build to a few ulp (the graph computes in double)."""
    full, quick = JitCompiler()(_graph(), SPECS), JitCompiler(quick=True)(_graph(), SPECS)
    rng = np.random.default_rng(1)
    for n in (1, 15, 16, 17, 100):
        rows = rng.uniform(-1, 1, (n, 3))
        np.testing.assert_allclose(quick.run(rows), full.run(rows), rtol=1e-14, atol=1e-15)
