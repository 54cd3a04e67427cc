"""The Python call path (calling.py over binding.py): the one-sample shim, batches, and the scalar call give the network's answers whatever the dtype, layout or container of the input; wrong
inputs are InputErrors; the JIT artifact and nnc.load behave alike."""

from __future__ import annotations

import dataclasses
import sys
import threading
from pathlib import Path

import nnc
import numpy as np
import pytest
import sympy
import torch
from helpers import FLOAT32_ATOL, FLOAT32_RTOL, network_output
from nnc.backends import get_backend
from nnc.backends.abi import Abi
from nnc.backends.binding import typed_pointer
from nnc.backends.interface import make_abi
from nnc.graph import Graph
from nnc.ops import Op
from nnc.spec_grammar import parse_spec
from torch import nn

MODADD = "x:int[3]=[a:0..112, b:0..112, 113]"
NET = "x:float[3]=-1..1"
WIDE_NUMEL = 300  # more elements than _direct_call.c converts on its stack (256)
WIDE = f"x:float[{WIDE_NUMEL}]=-1..1"


def _modadd_graph() -> Graph:
    a, b = sympy.symbols("a b", integer=True)
    graph = Graph()
    x = graph.add(Op.INPUT, name="x", shape=(1, 3), dtype="int64")
    attrs = {
        "expr": sympy.Mod(a + b, 113),
        "bindings": (("a", 0, 0), ("b", 0, 1)),
        "bounds": {"a": (0, 112), "b": (0, 112)},
        "shape": (1,),
        "dtype": "int64",
    }
    graph.outputs = [graph.add(Op.EXPR, [x], attrs, name="program")]
    return graph


@pytest.fixture(scope="module")
def modadd():
    """(a + b) mod 113 as the JIT compiles it: int64 tokens in, one int64 out per sample."""
    graph = _modadd_graph()
    return get_backend().jit(graph, make_abi("modadd", graph, [parse_spec(MODADD)], {}), "raw")


@pytest.fixture(scope="module")
def network():
    """A float32 network with two outputs, compiled, and the same library loaded from disk."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
    art = nnc.compile(model, [NET], mode="exact")
    folder = Path(__import__("tempfile").mkdtemp(prefix="nnc-test-calling-"))
    return model, art, nnc.load(art.save(folder / "net.so"))


@pytest.fixture(scope="module")
def wide():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(WIDE_NUMEL, 16), nn.ReLU(), nn.Linear(16, 1))
    return model, nnc.compile(model, [WIDE], mode="exact")


def _tokens(n: int, seed: int = 0) -> np.ndarray:
    ab = np.random.default_rng(seed).integers(0, 113, size=(n, 2))
    return np.column_stack([ab, np.full(n, 113)])


def _layouts(x: np.ndarray) -> dict[str, np.ndarray]:
    """The same values as the array types users pass: dtypes, strides, read-only."""
    strided = np.empty((x.shape[0] * 2, *x.shape[1:]), dtype=x.dtype)[::2]
    strided[...] = x
    frozen = x.copy()
    frozen.flags.writeable = False
    layouts = {
        "as given": x,
        "strided": strided,
        "fortran": np.asfortranarray(x),
        "reversed": x[::-1].copy()[::-1],
        "read-only": frozen,
    }
    for dtype in (np.int32, np.int64, np.float32, np.float64, np.uint8):
        if np.all(x.astype(dtype) == x):  # dtypes that hold the values exactly
            layouts[np.dtype(dtype).name] = x.astype(dtype)
    return layouts


def test_modadd_samples_and_batches_in_every_layout(modadd) -> None:
    tokens = _tokens(64)
    expected = (tokens[:, 0] + tokens[:, 1]) % 113
    for name, batch in _layouts(tokens).items():
        got = modadd(batch)
        assert got.dtype == np.int64 and got.shape == (64,), name
        np.testing.assert_array_equal(got, expected, err_msg=name)
        for k in (0, 17, 63):
            one = modadd(batch[k])
            assert isinstance(one, np.int64) and one == expected[k], name


def test_network_samples_and_batches_in_every_layout(network) -> None:
    model, art, library = network
    x = np.random.default_rng(1).uniform(-1, 1, size=(32, 3))
    expected = network_output(model, x.astype(np.float32))
    for name, batch in _layouts(x).items():
        for function in (art, library):
            got = function(batch)
            assert got.dtype == np.float32 and got.shape == (32, 2), name
            np.testing.assert_allclose(got, expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
            for k in (0, 31):
                one = function(batch[k])
                assert one.dtype == np.float32 and one.shape == (2,), name
                np.testing.assert_array_equal(one, got[k])


def test_one_sample_larger_than_the_shims_stack_buffers(wide) -> None:
    """Values every dtype holds, so int64 and int32 samples are converted in a malloc'd buffer."""
    model, art = wide
    x = np.random.default_rng(2).integers(-1, 2, size=(8, WIDE_NUMEL)).astype(np.float64)
    batch = art(x)
    np.testing.assert_allclose(
        batch, network_output(model, x.astype(np.float32)), rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL
    )
    layouts = _layouts(x)
    assert {"int32", "int64", "float32"} <= set(layouts)
    for name, layout in layouts.items():
        np.testing.assert_array_equal(art(layout[3]), batch[3], err_msg=name)


def test_results_are_fresh_arrays(network) -> None:
    """Each one-sample call returns a new array, not a view of a buffer the next call writes."""
    _, art, _ = network
    first = art(np.array([0.1, 0.2, 0.3]))
    kept = first.copy()
    art(np.array([-0.9, 0.9, 0.0]))
    np.testing.assert_array_equal(first, kept)


def test_empty_and_one_row_batches(modadd, network) -> None:
    _, art, library = network
    for function in (art, library):
        assert function(np.zeros((0, 3))).shape == (0, 2)
        assert function(np.zeros((1, 3))).shape == (1, 2)
    empty = modadd(np.zeros((0, 3), dtype=np.int64))
    assert empty.shape == (0,) and empty.dtype == np.int64
    np.testing.assert_array_equal(modadd(np.array([[100, 20, 113]])), [7])


def test_torch_tensors_in_torch_tensors_out(modadd, network) -> None:
    model, art, library = network
    x = torch.rand(5, 3) * 2 - 1
    with torch.no_grad():
        expected = model(x)
    for function in (art, library):
        batch, one = function(x), function(x[2])
        assert isinstance(batch, torch.Tensor) and batch.dtype == torch.float32
        assert batch.shape == (5, 2) and one.shape == (2,)
        torch.testing.assert_close(batch, expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
    token = modadd(torch.tensor([100, 20, 113]))
    assert isinstance(token, torch.Tensor) and token.shape == () and token.item() == 7


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((np.zeros(4),), r"shape \(4,\); the artifact takes \(3,\) for one sample"),
        ((np.zeros((2, 4)),), r"shape \(2, 4\)"),
        ((np.zeros((2, 2, 3)),), r"shape \(2, 2, 3\)"),
        ((np.float64(1.0),), r"shape \(\)"),
        ((), r"takes 1 input\(s\) \(x\), got 0"),
        ((np.zeros(3), np.zeros(3)), r"takes 1 input\(s\) \(x\), got 2"),
        ((np.array(["1", "2", "3"]),), "numeric arrays, got dtype <U1"),
        ((np.array([1j, 2, 3]),), "numeric arrays, got dtype complex128"),
        ((np.array([[None, 1, 2]]),), "numeric arrays, got dtype object"),
    ],
)
def test_wrong_inputs_are_input_errors(network, arguments, message) -> None:
    _, art, library = network
    for function in (art, library):
        with pytest.raises(nnc.InputError, match=message):
            function(*arguments)


def test_concurrent_one_sample_calls_do_not_share_outputs(modadd, wide) -> None:
    """The shim releases the GIL during a call: concurrent calls must not share buffers."""
    tokens = _tokens(2000, seed=3)
    x = np.random.default_rng(3).uniform(-1, 1, size=(400, WIDE_NUMEL))
    cases = [(modadd, tokens, (tokens[:, 0] + tokens[:, 1]) % 113), (wide[1], x, wide[1](x))]
    failures = []

    def work(offset: int) -> None:
        for function, inputs, expected in cases:
            for k in range(offset, len(inputs), 4):
                if not np.array_equal(function(inputs[k]), expected[k]):
                    failures.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show up
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not failures


def test_scalar_call(modadd, network) -> None:
    assert modadd.scalar(100, 20) == 7 and modadd.scalar(np.int64(3), np.int32(5)) == 8
    assert isinstance(modadd.scalar(1, 2), int)
    with pytest.raises(nnc.InputError, match=r"scalar\(\) takes 2 integers \(a, b\)"):
        modadd.scalar(1.5, 2)
    with pytest.raises(nnc.InputError, match=r"scalar\(\) takes 2 integers"):
        modadd.scalar(1)
    with pytest.raises(nnc.InputError, match="no scalar form"):
        network[1].scalar(0.1, 0.2, 0.3)  # two outputs: no scalar entry


def test_scalar_call_of_a_real_valued_library(wide, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 64), nn.Tanh(), nn.Linear(64, 1))
    art = nnc.compile(model, [NET], mode="exact")
    library = nnc.load(art.save(tmp_path / "law.so"))
    x = np.array([0.25, -0.5, 0.75])
    for function in (art, library):
        value = function.scalar(*x)
        assert isinstance(value, float) and value == pytest.approx(float(art(x)[0]), rel=1e-7)
        assert function.scalar(1, 0, -1) == pytest.approx(float(art(np.array([1, 0, -1]))[0]))


def test_loaded_abi_round_trips_through_metadata(network, tmp_path: Path) -> None:
    _, art, library = network
    built = art.abi(library.prefix)
    assert built.outside == library.abi.outside == "check"
    # all but the domain's segments, which the library checks itself
    assert library.abi == dataclasses.replace(built, domain=())
    unchecked = nnc.load(art.save(tmp_path / "unchecked.so", outside="allow"))
    assert unchecked.abi == dataclasses.replace(art.abi("unchecked", "allow"), domain=())


def test_metadata_without_an_interface_is_refused() -> None:
    with pytest.raises(nnc.InputError, match="does not describe its C interface"):
        Abi.from_json("net", {"abi": {"inputs": []}})


def test_a_float32_sample_of_a_float32_network(network) -> None:
    """A float32 sample (the shim passes it to NAME_eval_f32 as it is; test_direct_call.py checks
    the routing) gives what double rows give, and a sample outside the domain is refused alike."""
    model, art, library = network
    x = np.random.default_rng(3).uniform(-1, 1, size=3).astype(np.float32)
    for function in (art, library):
        np.testing.assert_array_equal(function(x), function(x.astype(np.float64)))
        np.testing.assert_allclose(
            function(x), network_output(model, x[None])[0], rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL
        )
        with pytest.raises(nnc.InputError, match="outside"):
            function(np.full(3, 5, dtype=np.float32))


def test_batches_in_the_networks_own_types_go_through_the_typed_rows(
    modadd, network, monkeypatch
) -> None:
    """int64 tokens and float32 features reach NAME_eval_batch_i64 / _f32 as they are: the same
    outputs as through double rows (the values converted first), samples outside the domain
    refused the same way."""
    from nnc.backends import calling

    passed = []
    monkeypatch.setattr(
        calling, "typed_pointer", lambda a, s: passed.append(s) or typed_pointer(a, s)
    )
    tokens = _tokens(1000)
    got = modadd(tokens)
    assert passed == ["i64", "i64"] and got.dtype == np.int64
    np.testing.assert_array_equal(got, modadd(tokens.astype(np.float64)))
    np.testing.assert_array_equal(got, (tokens[:, 0] + tokens[:, 1]) % 113)
    tokens[7, 0] = 113
    with pytest.raises(nnc.InputError, match="1 of 1000 samples lie outside"):
        modadd(tokens)
    _, art, library = network
    x = np.random.default_rng(4).uniform(-1, 1, size=(257, 3)).astype(np.float32)
    for function in (art, library):
        passed.clear()
        got = function(x)
        assert passed == ["f32", "f32"] and got.dtype == np.float32 and got.shape == (257, 2)
        np.testing.assert_array_equal(got, function(x.astype(np.float64)))
        passed.clear()
        function(np.asfortranarray(x))  # not its rows as they are: the double rows
        assert passed == []
