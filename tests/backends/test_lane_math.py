"""The inline float32 exp, tanh and sigmoid, through the JIT on each vector unit this machine runs
and as scalars: within FLOAT32_FUNCTION_ULPS of the exact value over their whole range (subnormal
results, the branch points, overflow), with NaN and ±inf handled as libm does."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from helpers import FLOAT32_FUNCTION_ULPS
from llvmlite import ir
from nnc.backends.isa import runnable_levels
from nnc.backends.jit import jit, optimize, target_machine
from nnc.backends.lane_math import LANE_FUNCTIONS

F32, I64, PTR = ir.FloatType(), ir.IntType(64), ir.PointerType()
LANES = 16
EXACT = {
    "exp": np.exp,
    "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
}
SPECIAL = {  # input → the result libm gives
    "exp": {np.inf: np.inf, -np.inf: 0.0, 0.0: 1.0},
    "tanh": {np.inf: 1.0, -np.inf: -1.0, 0.0: 0.0},
    "sigmoid": {np.inf: 1.0, -np.inf: 0.0, 0.0: 0.5},
}


def _compiled(name: str, cpu: str, lanes: int):
    """`void f(const float *x, float *y, int64 n)` applying the function `lanes` at a time."""
    module = ir.Module(name)
    value_type = ir.VectorType(F32, lanes) if lanes > 1 else F32
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, PTR, I64]), "apply")
    entry, loop, done = (fn.append_basic_block(s) for s in ("entry", "loop", "done"))
    b = ir.IRBuilder(entry)
    b.branch(loop)
    b.position_at_end(loop)
    i = b.phi(I64)
    i.add_incoming(ir.Constant(I64, 0), entry)
    x = b.load(b.gep(fn.args[0], [i], source_etype=F32), typ=value_type, align=4)
    b.store(LANE_FUNCTIONS[name](b, x), b.gep(fn.args[1], [i], source_etype=F32), align=4)
    following = b.add(i, ir.Constant(I64, lanes))
    i.add_incoming(following, loop)
    b.cbranch(b.icmp_signed("<", following, fn.args[2]), loop, done)
    b.position_at_end(done)
    b.ret_void()
    machine = target_machine(cpu)
    engine = jit(optimize(module, machine), machine)
    apply = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
    function = apply(engine.get_function_address("apply"))

    def call(values: np.ndarray) -> np.ndarray:
        padded = np.zeros(-(-len(values) // LANES) * LANES, np.float32)
        padded[: len(values)] = values
        out = np.empty_like(padded)
        function(padded.ctypes.data, out.ctypes.data, len(padded))
        return out[: len(values)]

    call.engine = engine  # keeps the code alive
    return call


def _points() -> np.ndarray:
    rng = np.random.default_rng(0)
    edges = [0.55, np.nextafter(np.float32(0.55), 0), 88.72, 88.73, -87.34, -103.9, 1e-30, -1e-38]
    return np.concatenate(
        [
            np.linspace(-110, 95, 100_003),
            rng.standard_normal(50_000) * 4,
            np.linspace(-1e-3, 1e-3, 2_001),
            edges,
        ]
    ).astype(np.float32)


def _ulps(got: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """|got - exact| in units of the float32 spacing at the exact value (subnormal spacing at
    least); `exact` is within float32's range."""
    spacing = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - exact) / np.maximum(spacing, 2.0**-149)


@pytest.mark.parametrize("cpu", ["host", *runnable_levels()])
@pytest.mark.parametrize("lanes", [LANES, 1])
@pytest.mark.parametrize("name", list(LANE_FUNCTIONS))
def test_within_a_few_ulps_everywhere(name: str, lanes: int, cpu: str) -> None:
    call = _compiled(name, cpu, lanes)
    x = _points()
    with np.errstate(over="ignore"):  # exp past float32's range: inf, as float32 rounds it
        exact = EXACT[name](x.astype(np.float64))
        rounded = exact.astype(np.float32)
    got = call(x)
    representable = np.isfinite(rounded)
    errors = _ulps(got[representable], exact[representable])
    worst = int(np.argmax(errors))
    assert errors[worst] <= FLOAT32_FUNCTION_ULPS, (
        f"{name}({x[representable][worst]!r}) = {got[representable][worst]!r}, "
        f"exact {exact[representable][worst]!r}: {errors[worst]:.2f} ulp"
    )
    np.testing.assert_array_equal(got[~representable], rounded[~representable])
    special = SPECIAL[name]
    np.testing.assert_array_equal(call(np.array(list(special), np.float32)), list(special.values()))
    assert np.isnan(call(np.array([np.nan], np.float32))).all()


def test_odd_functions_keep_the_sign_of_zero() -> None:
    tanh = _compiled("tanh", "host", LANES)
    assert np.signbit(tanh(np.array([-0.0], np.float32)))[0]
