"""The packed-panel GEMM micro-kernels, through the JIT, on every vector unit this machine runs:
row counts around the register tile (0, 1, MR - 1, MR, MR + 1, ...), column counts around the
panel width, k = 0 and 1, padded row strides (the masked stores must leave the padding alone),
float32 and float64, against long-double products within the rounding bound of the precision."""

from __future__ import annotations

import ctypes
import platform

import numpy as np
import pytest
from helpers import FLOAT32_ATOL, FLOAT32_RTOL, assert_within_dot_bound
from llvmlite import ir
from nnc.backends.gemm import Gemm, blocking_for, emit_gemm, pack_panels
from nnc.backends.isa import ISA_LEVELS, isa_of, runnable_levels
from nnc.backends.jit import jit, optimize, target_machine

LEVELS = runnable_levels()
ELEMENTS = {"float32": np.float32, "float64": np.float64}
ENTRY = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p)
PADDING = 3  # extra elements at the end of every row of A and C


def _module(gemm: Gemm, cpu: str, relu: bool = False) -> ir.Module:
    module = ir.Module("gemm_test")
    epilogue = None
    if relu:

        def epilogue(b: ir.IRBuilder, value: ir.Value) -> ir.Value:
            zero = ir.Constant(value.type, None)
            return b.select(b.fcmp_ordered("<", value, zero), zero, value)

    inner = emit_gemm(module, "product", gemm, isa_of(cpu), epilogue)
    fn = ir.Function(module, inner.function_type, "entry")
    b = ir.IRBuilder(fn.append_basic_block())
    b.call(inner, list(fn.args))
    b.ret_void()
    return module


class Compiled:
    """The GEMM JIT-compiled for `cpu`, called on numpy rows with padded strides."""

    def __init__(self, gemm: Gemm, cpu: str, relu: bool = False) -> None:
        machine = target_machine(cpu)
        self.engine = jit(optimize(_module(gemm, cpu, relu), machine), machine)
        self.entry = ENTRY(self.engine.get_function_address("entry"))
        self.gemm = gemm

    def __call__(self, a: np.ndarray) -> np.ndarray:
        """C for the rows of `a` (m × k); C's padding columns must keep their NaN."""
        dtype = ELEMENTS[self.gemm.element]
        m = a.shape[0]
        rows = np.zeros((m, self.gemm.lda), dtype)
        rows[:, : self.gemm.k] = a
        c = np.full((m + 1, self.gemm.ldc), np.nan, dtype)  # one row more than written
        self.entry(m, rows.ctypes.data, c.ctypes.data)
        assert np.isnan(c[:, self.gemm.n :]).all(), "a store wrote past n into the padding"
        assert np.isnan(c[m]).all(), "a store wrote past row m"
        return c[:m, : self.gemm.n]


def _gemm(k: int, n: int, element: str, seed: int, bias: bool = True) -> Gemm:
    rng = np.random.default_rng(seed)
    dtype = ELEMENTS[element]
    weights = rng.uniform(-1, 1, (k, n)).astype(dtype)
    shift = rng.uniform(-1, 1, n).astype(dtype) if bias else None
    return Gemm(weights, shift, element, k + PADDING, n + PADDING)


def _row_counts(rows: int) -> list[int]:
    return [0, 1, 2, rows - 1, rows, rows + 1, 2 * rows + 5, 5 * rows - 1]


def _column_counts(width: int) -> list[int]:
    return [1, width - 1, width, width + 1, 3 * width + 5]


@pytest.mark.parametrize("cpu", LEVELS)
@pytest.mark.parametrize("element", list(ELEMENTS))
def test_every_edge_of_the_tile(cpu: str, element: str) -> None:
    tile = blocking_for(isa_of(cpu), element)
    rng = np.random.default_rng(1)
    for n, k in zip(_column_counts(tile.width), (1, 7, 2, 5, 3)):
        gemm = _gemm(k, n, element, seed=n * 100 + k)
        compiled = Compiled(gemm, cpu)
        for m in _row_counts(tile.rows):
            a = rng.uniform(-1, 1, (m, k)).astype(ELEMENTS[element])
            got = compiled(a)
            assert got.shape == (m, n)
            assert_within_dot_bound(got, a, gemm.weights, gemm.bias, element)


@pytest.mark.parametrize("cpu", LEVELS)
def test_a_layer_sized_product(cpu: str) -> None:
    """784 → 256 as in an MNIST MLP, for one sample and for a tile with a remainder."""
    gemm = _gemm(784, 256, "float32", seed=7)
    compiled = Compiled(gemm, cpu)
    rng = np.random.default_rng(2)
    for m in (1, 3, 37):
        a = rng.uniform(0, 1, (m, 784)).astype(np.float32)
        assert_within_dot_bound(compiled(a), a, gemm.weights, gemm.bias, "float32")


def test_no_inner_dimension_gives_the_bias() -> None:
    gemm = _gemm(0, 21, "float64", seed=3)
    got = Compiled(gemm, "host")(np.zeros((5, 0)))
    np.testing.assert_array_equal(got, np.broadcast_to(gemm.bias, (5, 21)))


def test_without_bias() -> None:
    gemm = _gemm(9, 40, "float32", seed=4, bias=False)
    a = np.random.default_rng(5).uniform(-1, 1, (14, 9)).astype(np.float32)
    assert_within_dot_bound(Compiled(gemm, "host")(a), a, gemm.weights, None, "float32")


def test_the_epilogue_applies_to_every_stored_vector() -> None:
    """relu in the epilogue equals relu of the plain product, bit for bit (same arithmetic)."""
    gemm = _gemm(13, 37, "float32", seed=6)
    a = np.random.default_rng(7).uniform(-1, 1, (29, 13)).astype(np.float32)
    plain = Compiled(gemm, "host")(a)
    np.testing.assert_array_equal(Compiled(gemm, "host", relu=True)(a), np.maximum(plain, 0))


def test_panels_are_zero_padded_and_k_major() -> None:
    weights = np.arange(3 * 5, dtype=np.float32).reshape(3, 5)
    packed = pack_panels(weights, 4, np.float32)
    assert packed.shape == (2, 3, 4)
    np.testing.assert_array_equal(packed[0], weights[:, :4])
    np.testing.assert_array_equal(packed[1, :, 0], weights[:, 4])
    assert not packed[1, :, 1:].any()


@pytest.mark.parametrize(
    "cpu, registers, fused",
    [("x86-64-v4", "zmm", True), ("x86-64-v3", "ymm", True), ("generic", "xmm", False)],
)
def test_each_level_uses_its_own_vector_unit(cpu: str, registers: str, fused: bool) -> None:
    """The code for a level uses that level's widest registers, FMA only where it has it: a
    `--cpu generic` library runs on any x86-64."""
    if platform.machine() != "x86_64":
        pytest.skip("the levels are x86-64's")
    machine = target_machine(cpu)
    assembly = machine.emit_assembly(optimize(_module(_gemm(16, 64, "float32", 8), cpu), machine))
    assert f"%{registers}" in assembly
    wider = {"xmm": ("%ymm", "%zmm"), "ymm": ("%zmm",), "zmm": ()}[registers]
    assert not any(w in assembly for w in wider)
    assert ("vfmadd" in assembly) == fused


def test_the_levels_describe_their_registers() -> None:
    assert ISA_LEVELS["x86-64-v4"].lanes(4) == 16
    assert blocking_for(ISA_LEVELS["x86-64-v4"], "float32").rows == 12
    assert blocking_for(ISA_LEVELS["generic"], "float64").width == 4


def test_rows_grouped_in_samples_with_gaps_between() -> None:
    """Three rows per sample, samples further apart than their rows (a tile of a sample-major
    buffer holding other values too): every row lands where its sample's stride puts it."""
    rows, k, n, gap = 3, 5, 37, 4
    rng = np.random.default_rng(8)
    weights = rng.uniform(-1, 1, (k, n)).astype(np.float32)
    bias = rng.uniform(-1, 1, n).astype(np.float32)
    gemm = Gemm(weights, bias, "float32", k, n, rows, rows * k + gap, rows * n + gap)
    machine = target_machine("host")
    engine = jit(optimize(_module(gemm, "host"), machine), machine)
    entry = ENTRY(engine.get_function_address("entry"))
    for samples in (1, 4, 9):
        a = rng.uniform(-1, 1, (samples, rows, k)).astype(np.float32)
        a_memory = np.zeros((samples, rows * k + gap), np.float32)
        a_memory[:, : rows * k] = a.reshape(samples, -1)
        c_memory = np.full((samples, rows * n + gap), np.nan, np.float32)
        entry(samples * rows, a_memory.ctypes.data, c_memory.ctypes.data)
        assert np.isnan(c_memory[:, rows * n :]).all(), "a store landed in the gap"
        got = c_memory[:, : rows * n].reshape(samples * rows, n)
        assert_within_dot_bound(got, a.reshape(-1, k), weights, bias, "float32")


@pytest.mark.parametrize("stride, dilation", [(1, 1), (2, 1), (1, 2)])
def test_a_convolution_as_a_gemm_over_implicit_im2col(stride: int, dilation: int) -> None:
    """Conv2d as one GEMM: rows on the grid of output positions, k through the offset table of
    (channel, tap) positions in an already padded input; outputs channels-last, as torch's conv
    permuted."""
    import torch

    rng = np.random.default_rng(9)
    channels, size, kernel, outputs, padding = 3, 11, 3, 10, 1
    weight = rng.uniform(-1, 1, (outputs, channels, kernel, kernel)).astype(np.float32)
    bias = rng.uniform(-1, 1, outputs).astype(np.float32)
    padded = size + 2 * padding
    out = (padded - dilation * (kernel - 1) - 1) // stride + 1
    offsets = tuple(
        c * padded * padded + ky * dilation * padded + kx * dilation
        for c in range(channels)
        for ky in range(kernel)
        for kx in range(kernel)
    )
    sample = channels * padded * padded + 5  # with a gap after each sample
    gemm = Gemm(
        weight.reshape(outputs, -1).T.copy(),
        bias,
        "float32",
        0,
        outputs,
        rows=out * out,
        a_sample=sample,
        c_sample=out * out * outputs,
        a_grid=((out, stride * padded), (out, stride)),
        k_offsets=offsets,
    )
    machine = target_machine("host")
    engine = jit(optimize(_module(gemm, "host"), machine), machine)
    entry = ENTRY(engine.get_function_address("entry"))
    samples = 3
    x = rng.uniform(-1, 1, (samples, channels, size, size)).astype(np.float32)
    memory = np.zeros((samples, sample), np.float32)
    memory[:, : channels * padded * padded] = np.pad(
        x, ((0, 0), (0, 0), (padding, padding), (padding, padding))
    ).reshape(samples, -1)
    c = np.full((samples, out * out, outputs), np.nan, np.float32)
    entry(samples * out * out, memory.ctypes.data, c.ctypes.data)
    expected = torch.nn.functional.conv2d(
        torch.from_numpy(x),
        torch.from_numpy(weight),
        torch.from_numpy(bias),
        stride,
        padding,
        dilation,
    )
    got = c.reshape(samples, out, out, outputs).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, expected.numpy(), rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
