"""The threaded batch entry around a batch function: every sample computed once, in place, for
any n and thread count (tails, more threads than tiles, the clamp), the chunks' counts added up
and errors passed on, bad arguments refused, and the chunks really run on different threads."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from llvmlite import ir
from nnc.backends.jit import jit, optimize, target_machine
from nnc.backends.loops import counted_loop
from nnc.backends.threads import MAX_THREADS, emit_threaded_batch

I32, I64, F64, PTR = ir.IntType(32), ir.IntType(64), ir.DoubleType(), ir.PointerType()
WIDTH = 3  # doubles per sample in and out
TILE = 4
COUNTS = 1  # the batch's status: the samples of its chunk (an error is negative)
ENTRY = ctypes.CFUNCTYPE(
    ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32
)


def _batch(module: ir.Module, status: int) -> ir.Function:
    """y = 2x + 1 elementwise, y's last column the thread that ran it; returns, for n > 0, n when
    `status` is COUNTS (as an entry counting samples outside its domain would), else `status`
    (0 for an empty chunk)."""
    fn = ir.Function(module, ir.FunctionType(I32, [I64, PTR, PTR]), "batch")
    fn.linkage = "internal"
    n, x, y = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    self_id = ir.Function(module, ir.FunctionType(I64, []), "pthread_self")
    with counted_loop(b, b.mul(n, ir.Constant(I64, WIDTH))) as i:
        value = b.load(b.gep(x, [i], source_etype=F64), typ=F64)
        twice = b.fadd(b.fmul(value, ir.Constant(F64, 2.0)), ir.Constant(F64, 1.0))
        b.store(twice, b.gep(y, [i], source_etype=F64))
    with counted_loop(b, n) as i:
        last = b.add(b.mul(i, ir.Constant(I64, WIDTH)), ir.Constant(I64, WIDTH - 1))
        b.store(b.call(self_id, []), b.gep(y, [last], source_etype=I64))
    empty = b.icmp_signed("==", n, ir.Constant(I64, 0))
    result = b.trunc(n, I32) if status == COUNTS else ir.Constant(I32, status)
    b.ret(b.select(empty, ir.Constant(I32, 0), result))
    return fn


@pytest.fixture(scope="module", params=[0, COUNTS, -2])
def threaded(request):
    module = ir.Module("threads_test")
    emit_threaded_batch(module, "threaded", _batch(module, request.param), [8 * WIDTH] * 2, TILE)
    machine = target_machine("host")
    engine = jit(optimize(module, machine), machine)
    entry = ENTRY(engine.get_function_address("threaded"))
    entry.engine, entry.status = engine, request.param
    return entry


def _run(entry, n: int, threads: int) -> tuple[int, np.ndarray, np.ndarray]:
    x = np.random.default_rng(n).uniform(-1, 1, (n, WIDTH))
    y = np.full((n + 1, WIDTH), np.nan)  # one row more than written
    status = entry(n, x.ctypes.data, y.ctypes.data, threads)
    assert np.isnan(y[n]).all(), "a chunk wrote past the batch"
    return status, x, y[:n]


@pytest.mark.parametrize("threads", [1, 2, 3, 7, MAX_THREADS + 50])
@pytest.mark.parametrize("n", [0, 1, TILE - 1, TILE, TILE + 1, 2 * TILE + 3, 101])
def test_every_sample_once(threaded, n: int, threads: int) -> None:
    status, x, y = _run(threaded, n, threads)
    expected = n if threaded.status == COUNTS else threaded.status
    assert status == (expected if n else 0)
    np.testing.assert_array_equal(y[:, : WIDTH - 1], 2 * x[:, : WIDTH - 1] + 1)


def test_chunks_run_on_separate_threads(threaded) -> None:
    _, _, y = _run(threaded, 64 * TILE, 2)
    runners = np.unique(y[:, WIDTH - 1].view(np.int64))
    assert len(runners) == 2
    first_chunk = y[: 32 * TILE, WIDTH - 1].view(np.int64)
    assert len(np.unique(first_chunk)) == 1, "a chunk is split between threads"


@pytest.mark.parametrize("n, threads", [(-1, 2), (4, 0), (4, -3)])
def test_bad_arguments_are_refused(threaded, n: int, threads: int) -> None:
    x = np.zeros((4, WIDTH))
    y = np.zeros((4, WIDTH))
    assert threaded(n, x.ctypes.data, y.ctypes.data, threads) == -1
    assert not y.any()
