"""The compiled shim (backends/_direct_call.c): built by the install, it hands each plain numpy
sample and float64 batch to the right entry with the right values (a batch a chunk at a time) and
makes the right output; everything else it leaves to the general path, and what it returns equals
what the general path returns."""

from __future__ import annotations

import cffi
import nnc
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from nnc.backends import calling
from torch import nn

_FFI = cffi.FFI()
_KINDS = {
    np.dtype(np.float64): 0,
    np.dtype(np.float32): 1,
    np.dtype(np.int64): 2,
    np.dtype(bool): 3,
}


def test_the_shim_was_built_by_the_install() -> None:
    """pyproject.toml builds it as an optional extension: a failed build must fail here, not make
    every call silently take the general path."""
    assert calling.DirectCall is not None, "reinstall nnc with a C compiler (pip install -e .)"


class _Recorder:
    """Stand-ins for NAME_eval, NAME_eval_f32 and NAME_eval_batch as C callbacks: they record
    which one was called with which values (a batch: its row count) and write, for each row,
    `y[i] = 2 x[0] + i - 1.5` (status `status`)."""

    def __init__(self, out_numel: int, status: int = 0) -> None:
        self.calls: list[tuple[str, list[float] | int]] = []
        self.status = status
        self._callbacks = [  # kept alive: the shim holds their raw addresses
            _FFI.callback(f"int(const {c} *, {c} *)", self._entry(name, out_numel))
            for name, c in (("f64", "double"), ("f32", "float"))
        ]
        self._callbacks.append(
            _FFI.callback("int(int64_t, const double *, double *)", self._batch(out_numel))
        )

    def _entry(self, name: str, n: int):
        def call(x, y):
            self.calls.append((name, [x[i] for i in range(3)]))
            for i in range(n):
                y[i] = 2 * x[0] + i - 1.5
            return self.status

        return call

    def _batch(self, n: int):
        def call(count, x, y):
            self.calls.append(("batch", count))
            for row in range(count):
                for i in range(n):
                    y[row * n + i] = 2 * x[row * 3] + i - 1.5
            return self.status

        return call

    def shim(self, out_shape: tuple[int, ...], dtype: type, f32: bool = True):
        f64, f32_entry, batch = (int(_FFI.cast("uintptr_t", c)) for c in self._callbacks)
        numel = int(np.prod(out_shape))
        dtype = np.dtype(dtype)
        return calling.DirectCall(
            f64, f32_entry if f32 else 0, batch, np.ndarray, (3,), numel, _KINDS[dtype],
            np.empty, out_shape, dtype,
        )  # fmt: skip


def _expected(x: np.ndarray, out_numel: int) -> np.ndarray:
    return 2 * x[:, :1] + np.arange(out_numel) - 1.5


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int32])
def test_each_input_dtype_reaches_c_as_its_values(dtype) -> None:
    recorder = _Recorder(out_numel=2)
    shim = recorder.shim((2,), np.float64)
    x = np.array([3, -2, 7], dtype=dtype)
    y = shim(x)
    assert recorder.calls == [("f64", [3.0, -2.0, 7.0])]
    assert y.dtype == np.float64 and y.shape == (2,)
    np.testing.assert_array_equal(y, [4.5, 5.5])


def test_a_float32_sample_goes_to_the_float_entry_only_when_the_output_is_float32() -> None:
    recorder = _Recorder(out_numel=2)
    x = np.array([0.25, 0.5, 0.75], dtype=np.float32)
    np.testing.assert_array_equal(recorder.shim((2,), np.float32)(x), [-1.0, 0.0])
    assert recorder.calls[-1][0] == "f32"
    recorder.shim((2,), np.int64)(x)  # argmax-like outputs: converted from the double entry
    assert recorder.calls[-1][0] == "f64"
    recorder.shim((2,), np.float32, f32=False)(x)  # a library without float rows
    assert recorder.calls[-1][0] == "f64"


@pytest.mark.parametrize(
    ("dtype", "x0", "expected"),
    [
        (np.float32, 0.1, np.array([0.1 * 2 - 1.5, 0.1 * 2 - 0.5], dtype=np.float32)),
        (np.int64, 3.4, np.array([5, 6], dtype=np.int64)),  # 5.3, 6.3 truncated, as astype
        (bool, 0.75, np.array([False, True])),  # 0.0 → False, 1.0 → True
        (bool, np.nan, np.array([True, True])),  # NaN is not 0: astype(bool) says True
    ],
)
def test_outputs_are_converted_as_numpy_converts_them(dtype, x0, expected) -> None:
    recorder = _Recorder(out_numel=2)
    y = recorder.shim((2,), dtype)(np.array([x0, 0.0, 0.0]))
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y, expected)
    doubles = np.array([2 * x0 - 1.5, 2 * x0 - 0.5])
    np.testing.assert_array_equal(y, doubles.astype(dtype))


def test_a_one_value_output_is_returned_as_a_numpy_scalar() -> None:
    y = _Recorder(out_numel=1).shim((), np.int64)(np.array([5, 0, 0]))
    assert type(y) is np.int64 and y == 8


@pytest.mark.parametrize("n", [1, 2, 2047, 2048, 2049, 4097])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, bool])
def test_a_float64_batch_goes_to_the_batch_entry_a_chunk_at_a_time(n, dtype) -> None:
    """4,096 doubles a chunk (2,048 rows of two outputs): tails and chunk edges ± 1; a float64
    output is written in place, in one call."""
    recorder = _Recorder(out_numel=2)
    x = np.random.default_rng(n).uniform(-1, 1, size=(n, 3)).round(2)
    y = recorder.shim((2,), dtype)(x)
    assert y.dtype == np.dtype(dtype) and y.shape == (n, 2)
    np.testing.assert_array_equal(y, _expected(x, 2).astype(dtype))
    counts = [count for _, count in recorder.calls]
    assert sum(counts) == n and all(name == "batch" for name, _ in recorder.calls)
    assert counts == ([n] if dtype is np.float64 else [min(2048, n - k) for k in range(0, n, 2048)])


def test_a_batch_of_one_value_outputs_is_an_array() -> None:
    x = np.array([[1.0, 0, 0], [2.0, 0, 0]])
    y = _Recorder(out_numel=1).shim((), np.float32)(x)
    assert type(y) is np.ndarray and y.shape == (2,)
    np.testing.assert_array_equal(y, [0.5, 2.5])


@pytest.mark.parametrize("status", [1, -2])
def test_a_batch_with_a_failing_chunk_is_left_to_the_general_path(status) -> None:
    recorder = _Recorder(out_numel=2, status=status)
    x = np.zeros((5000, 3))
    assert recorder.shim((2,), np.float32)(x) is None
    assert recorder.shim((2,), np.float64)(x) is None
    counts = [count for _, count in recorder.calls]
    # outside samples: every chunk still runs (the general path counts them); a failure stops
    assert counts == ([2048, 2048, 904, 5000] if status > 0 else [2048, 5000])


@pytest.mark.parametrize(
    "arguments",
    [
        (np.zeros(4),),  # another shape
        (np.zeros((0, 3)),),  # an empty batch
        (np.zeros((2, 3), dtype=np.float32),),  # a batch in another dtype than float64
        (np.zeros((2, 4)),),
        (np.zeros((2, 2, 3)),),
        (np.asfortranarray(np.zeros((2, 3))),),
        (np.zeros(6)[::2],),  # not contiguous
        (np.zeros(3, dtype=np.float16),),  # a dtype the shim does not convert
        (np.zeros(3, dtype=">f8"),),  # not native byte order
        (np.zeros(3, dtype=np.uint8),),
        (np.zeros(3, dtype=bool),),
        ([0.0, 0.0, 0.0],),  # not an ndarray
        (np.zeros(3).view(np.matrix),),  # an ndarray subclass
        (np.zeros(3), np.zeros(3)),  # two arguments
        (),
    ],
)
def test_anything_but_a_plain_sample_is_left_to_the_general_path(arguments) -> None:
    recorder = _Recorder(out_numel=2)
    assert recorder.shim((2,), np.float64)(*arguments) is None
    assert recorder.calls == []


def test_a_failing_status_is_left_to_the_general_path_which_names_it() -> None:
    recorder = _Recorder(out_numel=2, status=1)
    assert recorder.shim((2,), np.float64)(np.zeros(3)) is None
    assert recorder.shim((2,), np.float32)(np.zeros(3, dtype=np.float32)) is None
    assert [name for name, _ in recorder.calls] == ["f64", "f32"]


@pytest.mark.parametrize(
    "arguments",
    [
        ("not an address", 0, 1, np.ndarray, (3,), 1, 0, np.empty, (), np.float64),
        (0, 0, 1, np.ndarray, (3,), 1, 0, np.empty, (), np.float64),  # no eval entry
        (1, 0, 0, np.ndarray, (3,), 1, 0, np.empty, (), np.float64),  # no batch entry
        (1, 0, 1, np.ndarray, (3,), 0, 0, np.empty, (), np.float64),  # no output
        (1, 0, 1, np.ndarray, (3,), 1, 7, np.empty, (), np.float64),  # no such output kind
        (1, 0, 1, "ndarray", (3,), 1, 0, np.empty, (), np.float64),
        (1, 0, 1, np.ndarray, [3], 1, 0, np.empty, (), np.float64),
        (1, 0, 1, np.ndarray, (-3,), 1, 0, np.empty, (), np.float64),
        (1, 0, 1, np.ndarray, (1,) * 9, 1, 0, np.empty, (), np.float64),
        (1, 0, 1, np.ndarray, (3,), 1, 0, np.empty, [], np.float64),
    ],
)
def test_the_shim_refuses_a_wrong_description(arguments) -> None:
    with pytest.raises((TypeError, ValueError, OverflowError)):
        calling.DirectCall(*arguments)


@pytest.fixture(scope="module")
def network():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
    return nnc.compile(model, ["x:float[3]=-1..1"], mode="exact")._native


_DTYPES = st.sampled_from([np.float64, np.float32, np.int64, np.int32, np.float16, np.uint8])
_SHAPES = st.sampled_from([(3,), (2, 3), (4,), (), (1, 3), (3, 1), (0, 3), (9, 3)])


@settings(max_examples=300, deadline=None)
@given(
    array=st.tuples(_DTYPES, _SHAPES).flatmap(
        lambda ds: hnp.arrays(np.float64, ds[1], elements=st.floats(-1.5, 1.5)).map(
            lambda a: a.astype(ds[0])  # some inside the domain, some outside (|x| > 1)
        )
    ),
    layout=st.sampled_from(["as given", "fortran", "read-only", "strided"]),
)
def test_the_shim_and_the_general_path_agree_on_any_array(network, array, layout) -> None:
    """The shim's answer, when it gives one, is the general path's; an input the general path
    refuses is never answered by the shim; a plain sample or float64 batch always is."""
    if layout == "fortran":
        array = np.asfortranarray(array)
    elif layout == "read-only":
        array.flags.writeable = False
    elif layout == "strided" and array.ndim:
        array = np.repeat(array, 2, axis=-1)[..., ::2]
    fast = network._direct(array)
    try:
        general = network._call((array,))
    except nnc.InputError:
        assert fast is None
        return
    contiguous = array.flags.c_contiguous
    sample = array.shape == (3,) and array.dtype.name in ("float64", "float32", "int64", "int32")
    batch = array.ndim == 2 and array.shape[1:] == (3,) and len(array) and array.dtype == np.float64
    assert (fast is not None) == (contiguous and (sample or batch))
    if fast is not None:
        assert fast.dtype == general.dtype and fast.shape == general.shape
        np.testing.assert_array_equal(fast, general)


def test_a_torch_sample_goes_through_the_shim(network, monkeypatch) -> None:
    """A CPU tensor's numpy view reaches the shim (torch's own conversions aside, about 2 us
    less than the general path); the answer is the numpy call's, as a tensor."""
    seen = []
    shim = network._direct
    monkeypatch.setattr(network, "_direct", lambda *a: seen.append(a) or shim(*a))
    x = torch.tensor([0.25, -0.5, 0.75])
    y = network(x)
    # asked twice: the tensor itself (not an ndarray: declined), then its numpy view
    assert [type(args[0]) for args in seen] == [torch.Tensor, np.ndarray]
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32
    np.testing.assert_array_equal(y.numpy(), network(x.numpy()))
    batch = network(torch.zeros(4, 3))  # a float32 batch: the typed rows, after the shim declines
    assert batch.shape == (4, 2) and isinstance(batch, torch.Tensor)
