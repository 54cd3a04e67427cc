"""The domain guard in every entry: outside the verified domain a sample gets the sentinel (NaN for
real outputs, -1 for classes and integers) and is counted, or is clamped into the domain's box, or
— built with outside='allow' — is computed unchecked; inside, results are unchanged."""

from __future__ import annotations

import ctypes
from pathlib import Path

import nnc
import numpy as np
import pytest
import torch
from helpers import FLOAT32_ATOL, FLOAT32_RTOL
from torch import nn

SPEC = "x:float[3]=1..3"
MODULUS = 113


@pytest.fixture(scope="module")
def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))


@pytest.fixture(scope="module")
def libraries(
    mlp: nn.Module, grokking: nnc.Artifact, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ctypes.CDLL]:
    """The MLP in the three modes and the grokking model (closed form, int32 columns), as .so."""
    folder = tmp_path_factory.mktemp("guard")
    out = {}
    for mode in ("check", "clamp", "allow"):
        path = nnc.compile(mlp, [SPEC], mode="exact", outside=mode).save(folder / f"mlp_{mode}.so")
        out[mode] = _typed(
            ctypes.CDLL(str(path)), f"mlp_{mode}", [ctypes.c_double] * 3, ctypes.c_double
        )
    path = grokking.save(folder / "modadd.so")
    out["modadd"] = _typed(ctypes.CDLL(str(path)), "modadd", [ctypes.c_int64] * 2, ctypes.c_int64)
    return out


def _typed(
    library: ctypes.CDLL, prefix: str, scalar_args: list, scalar_result: object
) -> ctypes.CDLL:
    getattr(library, prefix).argtypes = scalar_args
    getattr(library, prefix).restype = scalar_result
    getattr(library, f"{prefix}_eval").argtypes = [ctypes.c_void_p] * 2
    getattr(library, f"{prefix}_eval_batch").argtypes = [
        ctypes.c_int64,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    library.prefix = prefix
    return library


def _network(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x.astype(np.float32))).double().numpy().ravel()


ROWS = np.array([[1, 2, 3], [0.5, 2, 3], [2, 2, 2.5], [np.nan, 2, 2], [3, 3, 4], [1, 1, 1]])
INSIDE = np.array([True, False, True, False, False, True])


def test_check_gives_nan_to_rows_outside_and_counts_them(libraries, mlp: nn.Module) -> None:
    library = libraries["check"]
    y = np.zeros(len(ROWS))
    assert library.mlp_check_eval_batch(len(ROWS), ROWS.ctypes.data, y.ctypes.data) == 2 + 1
    assert np.isnan(y[~INSIDE]).all()
    np.testing.assert_allclose(
        y[INSIDE], _network(mlp, ROWS[INSIDE]), rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL
    )
    single = np.zeros(1)
    assert library.mlp_check_eval(ROWS[1].ctypes.data, single.ctypes.data) == 1 and np.isnan(
        single[0]
    )
    assert (
        library.mlp_check_eval(ROWS[0].ctypes.data, single.ctypes.data) == 0 and single[0] == y[0]
    )
    scalar = [library.mlp_check(*row) for row in ROWS]
    assert (
        np.isnan(np.array(scalar)[~INSIDE]).all()
        and np.array(scalar)[INSIDE].tolist() == y[INSIDE].tolist()
    )


def test_clamp_computes_at_the_nearest_point_of_the_box(libraries, mlp: nn.Module) -> None:
    library = libraries["clamp"]
    y = np.zeros(len(ROWS))
    assert library.mlp_clamp_eval_batch(len(ROWS), ROWS.ctypes.data, y.ctypes.data) == 1  # the NaN
    numbers = ~np.isnan(ROWS).any(axis=1)
    np.testing.assert_allclose(
        y[numbers],
        _network(mlp, np.clip(ROWS[numbers], 1, 3)),
        rtol=FLOAT32_RTOL,
        atol=FLOAT32_ATOL,
    )
    assert np.isnan(y[~numbers]).all()
    assert library.mlp_clamp(0.5, 2, 3) == library.mlp_clamp(1, 2, 3)


def test_allow_computes_everything_unchecked(libraries, mlp: nn.Module) -> None:
    library = libraries["allow"]
    y = np.zeros(len(ROWS))
    assert library.mlp_allow_eval_batch(len(ROWS), ROWS.ctypes.data, y.ctypes.data) == 0
    numbers = ~np.isnan(ROWS).any(axis=1)
    np.testing.assert_allclose(
        y[numbers], _network(mlp, ROWS[numbers]), rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL
    )


def test_the_closed_form_answers_minus_one_outside_its_domain(libraries) -> None:
    """(a + b) mod 113 computes mod as a compare and a subtract, valid for a, b ≤ 112 only: the
    guard keeps it from ever seeing (100, 100) or (-1, 0)."""
    library = libraries["modadd"]
    pairs = [(100, 12), (100, 100), (-1, 0), (112, 112), (113, 0), (0, 0)]
    expected = [
        (a + b) % MODULUS if 0 <= a < MODULUS and 0 <= b < MODULUS else -1 for a, b in pairs
    ]
    assert [library.modadd(a, b) for a, b in pairs] == expected
    for suffix, dtype in (("i32", np.int32), ("i64", np.int64)):
        a, b = (np.array(column, dtype=dtype) for column in zip(*pairs))
        out = np.zeros(len(pairs), dtype=dtype)
        entry = getattr(library, f"modadd_batch_{suffix}")
        entry.argtypes = [ctypes.c_int64] + [ctypes.c_void_p] * 3
        assert entry(len(pairs), a.ctypes.data, b.ctypes.data, out.ctypes.data) == expected.count(
            -1
        )
        assert out.tolist() == expected


def test_the_batch_rows_check_constants_and_fractions(libraries) -> None:
    library = libraries["modadd"]
    x = np.array([[1, 2, 113], [1, 2, 114], [1.5, 2, 113], [np.nan, 0, 113], [112, 1, 113]])
    y = np.zeros(len(x))
    assert library.modadd_eval_batch(len(x), x.ctypes.data, y.ctypes.data) == 3
    assert y.tolist() == [3, -1, -1, -1, 0]


def test_python_calls_say_how_many_samples_lie_outside(mlp: nn.Module, tmp_path: Path) -> None:
    """The JIT artifact and nnc.load call the checked entries on every path: a batch, one sample
    (the prepared path), columns; the scalar form returns the sentinel itself."""
    artifact = nnc.compile(mlp, [SPEC], mode="exact")
    expected = _network(mlp, ROWS[INSIDE])
    for function in (artifact, nnc.load(artifact.save(tmp_path / "mlp.so"))):
        with pytest.raises(nnc.InputError, match="3 of 6 samples lie outside the domain"):
            function(ROWS)
        with pytest.raises(nnc.InputError, match="1 of 1 samples lie outside the domain"):
            function(ROWS[1])
        with pytest.raises(nnc.InputError, match="3 of 6 samples lie outside the domain"):
            function.columns(*ROWS.T)
        np.testing.assert_allclose(
            function(ROWS[INSIDE]).ravel(), expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL
        )
        assert float(function(ROWS[0])[0]) == pytest.approx(expected[0], rel=FLOAT32_RTOL)
        scalars = np.array([function.scalar(*row) for row in ROWS])
        assert np.isnan(scalars[~INSIDE]).all()
        np.testing.assert_allclose(scalars[INSIDE], expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)


def test_python_calls_of_an_unchecked_library_compute_everything(
    mlp: nn.Module, tmp_path: Path
) -> None:
    artifact = nnc.compile(mlp, [SPEC], mode="exact", outside="allow")
    numbers = ~np.isnan(ROWS).any(axis=1)
    for function in (artifact, nnc.load(artifact.save(tmp_path / "mlp.so"))):
        np.testing.assert_allclose(
            function(ROWS[numbers]).ravel(),
            _network(mlp, ROWS[numbers]),
            rtol=FLOAT32_RTOL,
            atol=FLOAT32_ATOL,
        )
        assert function.scalar(*ROWS[1]) == pytest.approx(
            _network(mlp, ROWS[1:2])[0], rel=FLOAT32_RTOL
        )


@pytest.mark.parametrize(
    ("spec", "inside", "outside"),
    [
        ("x:float[2]=[{0, 1}, 0..2]", [1, 1.5], [0.5, 1]),  # a value set
        ("x:float[40]=-1..1", [0.5] * 40, [0.5] * 39 + [1.5]),  # a long shared range: a loop
        ("x:int[2]=0..5", [3, 4], [3, 4.5]),  # integers: fractions are outside
    ],
)
def test_each_kind_of_domain_is_checked(
    spec: str, inside: list[float], outside: list[float]
) -> None:
    torch.manual_seed(0)
    numel = len(inside)
    model = nn.Sequential(nn.Linear(numel, 4), nn.Tanh(), nn.Linear(4, 1))
    if "int" in spec:
        model = nn.Sequential(_Float(), *model)
    artifact = nnc.compile(model, [spec], mode="exact")
    artifact(np.array([inside]))
    with pytest.raises(nnc.InputError, match="1 of 1 samples lie outside"):
        artifact(np.array([outside]))


def test_calibration_data_is_checked_against_the_box_of_its_samples() -> None:
    torch.manual_seed(0)
    samples = torch.rand(64, 2)  # each column in [0, 1)
    artifact = nnc.compile(nn.Sequential(nn.Linear(2, 1)), {"x": samples}, mode="exact")
    artifact(samples[:3].numpy())
    with pytest.raises(nnc.InputError, match="outside"):
        artifact(np.array([[2.0, 0.5]]))


def test_clamp_is_refused_where_an_input_takes_listed_values() -> None:
    with pytest.raises(nnc.InputError, match="clamp"):
        nnc.compile(nn.Linear(2, 1), ["x:float[2]={0, 1}"], mode="exact", outside="clamp")


def test_the_header_states_the_domain_and_what_happens_outside(
    mlp: nn.Module, tmp_path: Path
) -> None:
    for mode, words in (("check", "gets the sentinel NaN"), ("allow", "do not check")):
        path = nnc.compile(mlp, [SPEC], mode="exact", outside=mode).save(tmp_path / f"{mode}.so")
        header = path.with_suffix(".h").read_text()
        assert SPEC in header and words in header
        assert nnc.load(path).metadata["outside"] == mode


class _Float(nn.Module):
    """Integer inputs as floats, for a Linear layer."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float()


BATCH = np.tile(ROWS, (200, 1))  # 1,200 rows: enough for the threaded entries to split them


@pytest.mark.parametrize("threads", [None, 1, 2])
def test_the_typed_and_threaded_rows_are_guarded_too(
    libraries, mlp: nn.Module, threads: int | None
) -> None:
    """float32 rows and the _threads entries count the rows outside and give them NaN, as the
    double batch entry does, and compute the rest as the network does."""
    library, inside = libraries["check"], np.tile(INSIDE, 200)
    for rows, suffix in ((BATCH, ""), (BATCH.astype(np.float32), "_f32")):
        y = np.zeros(len(rows), dtype=rows.dtype)
        name = f"mlp_check_eval_batch{suffix}" + ("" if threads is None else "_threads")
        arguments = [len(rows), rows.ctypes.data, y.ctypes.data]
        entry = getattr(library, name)
        entry.argtypes = [ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p] + (
            [] if threads is None else [ctypes.c_int32]
        )
        assert entry(*arguments, *([] if threads is None else [threads])) == (~inside).sum()
        assert np.isnan(y[~inside]).all()
        np.testing.assert_allclose(
            y[inside], _network(mlp, rows[inside]), rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL
        )


def test_the_typed_one_sample_entry_clamps(libraries) -> None:
    library = libraries["clamp"]
    library.mlp_clamp_eval_f32.argtypes = [ctypes.c_void_p] * 2
    results = []
    for row in ([0.5, 2, 3], [1, 2, 3], [np.nan, 2, 3]):
        x, y = np.array(row, dtype=np.float32), np.zeros(1, dtype=np.float32)
        results.append((library.mlp_clamp_eval_f32(x.ctypes.data, y.ctypes.data), y[0]))
    assert results[0] == results[1] and results[0][0] == 0
    assert results[2][0] == 1 and np.isnan(results[2][1])
