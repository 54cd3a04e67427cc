"""The shared library as other programs see it: entry points agree, builds are byte-identical,
it needs only libc/libm, it is reentrant, and nnc.load works without torch."""

from __future__ import annotations

import ctypes
import subprocess
import sys
import threading
from pathlib import Path

import nnc
import numpy as np
import pytest
import torch
from helpers import network_output
from nnc.cli import main
from torch import nn

SPEC = "x:float[3]=1..3"


@pytest.fixture(scope="module")
def artifact() -> nnc.Artifact:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 16), nn.GELU(), nn.Linear(16, 1))
    artifact = nnc.compile(model, [SPEC], mode="exact")
    artifact.model = model  # kept for comparisons below
    return artifact


def _library(path: Path) -> ctypes.CDLL:
    library = ctypes.CDLL(str(path))
    library.algo_eval.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    library.algo_eval_batch.argtypes = [ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p]
    library.algo.argtypes = [ctypes.c_double] * 3
    library.algo.restype = ctypes.c_double
    library.algo_metadata.restype = ctypes.c_char_p
    return library


def test_entry_points_agree_with_the_network(artifact, tmp_path: Path) -> None:
    library = _library(artifact.save(tmp_path / "algo.so"))
    x = np.random.default_rng(0).uniform(1, 3, size=(64, 3))
    expected = network_output(artifact.model, x.astype(np.float32)).ravel()
    batch = np.empty(64)
    assert library.algo_eval_batch(64, x.ctypes.data, batch.ctypes.data) == 0
    single = np.empty(1)
    assert library.algo_eval(x[5].ctypes.data, single.ctypes.data) == 0
    scalar = [library.algo(*row) for row in x]
    np.testing.assert_allclose(batch, expected, rtol=1e-5, atol=1e-6)
    assert single[0] == batch[5] and scalar == batch.tolist()
    assert library.algo_eval_batch(-1, x.ctypes.data, batch.ctypes.data) == -1


def test_metadata_has_no_paths(artifact, tmp_path: Path) -> None:
    import json

    library = _library(artifact.save(tmp_path / "algo.so"))
    text = library.algo_metadata().decode()
    metadata = json.loads(text)
    assert metadata["nnc_version"] == nnc.__version__
    assert metadata["inputs"][0]["spec"] == SPEC
    assert metadata["verification"]["passed"] and metadata["output"]["semantics"] == "raw"
    assert str(tmp_path) not in text and "/home" not in text and "/work" not in text


def test_two_builds_are_byte_identical(artifact, tmp_path: Path) -> None:
    first = artifact.save(tmp_path / "algo.so")
    data = first.read_bytes()
    (tmp_path / "other").mkdir()
    second = artifact.save(tmp_path / "other" / "algo.so")
    assert second.read_bytes() == data
    assert second.with_suffix(".h").read_text() == first.with_suffix(".h").read_text()


def test_depends_on_libc_and_libm_only(artifact, tmp_path: Path) -> None:
    path = artifact.save(tmp_path / "algo.so")
    needed = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=True).stdout
    libraries = {line.split()[0] for line in needed.strip().splitlines()}
    assert libraries <= {
        "linux-vdso.so.1",
        "libm.so.6",
        "libc.so.6",
        "/lib64/ld-linux-x86-64.so.2",
        "libmvec.so.1",
    }  # glibc's vector math, beside libm


def test_reentrant_across_threads(artifact, tmp_path: Path) -> None:
    library = _library(artifact.save(tmp_path / "algo.so"))
    rng = np.random.default_rng(1)
    inputs = [rng.uniform(1, 3, size=(2000, 3)) for _ in range(4)]
    expected = [network_output(artifact.model, x.astype(np.float32)).ravel() for x in inputs]
    results = [np.empty(2000) for _ in inputs]

    def work(k: int) -> None:  # ctypes releases the GIL: the calls really overlap
        for _ in range(20):
            library.algo_eval_batch(2000, inputs[k].ctypes.data, results[k].ctypes.data)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for got, want in zip(results, expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_load_works_without_torch(artifact, tmp_path: Path) -> None:
    """nnc.load needs numpy and cffi: batch, one sample and the scalar call, without torch or
    llvmlite importable."""
    path = artifact.save(tmp_path / "algo.so")
    expected = artifact(np.array([[1.0, 2.0, 3.0]]))
    script = (
        "import sys; sys.modules['torch'] = None; sys.modules['llvmlite'] = None\n"
        "import numpy as np, nnc\n"
        f"lib = nnc.load({str(path)!r})\n"
        "print(repr(float(lib(np.array([[1.0, 2.0, 3.0]]))[0, 0])))\n"
        "print(repr(float(lib(np.array([1, 2, 3]))[0])), repr(lib.scalar(1.0, 2.0, 3.0)))\n"
        "print(lib.metadata['abi']['inputs'][0]['shape'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    batch, one, shape = result.stdout.split("\n")[:3]
    single, scalar = one.split()
    assert float(batch) == pytest.approx(float(expected[0, 0]), rel=1e-7) and shape == "[3]"
    assert float(single) == float(batch) and float(scalar) == pytest.approx(float(batch), rel=1e-7)


def test_callable_accepts_single_samples_batches_and_tensors(artifact) -> None:
    single = artifact(np.array([1.0, 2.0, 3.0]))
    batch = artifact(np.array([[1.0, 2.0, 3.0], [2.0, 2.0, 2.0]]))
    tensor = artifact(torch.tensor([[1.0, 2.0, 3.0]]))
    assert single.shape == (1,) and batch.shape == (2, 1)
    assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float32
    assert single.dtype == np.float32  # the network's output dtype
    assert single[0] == batch[0, 0] == tensor[0, 0].item()
    with pytest.raises(nnc.InputError, match=r"takes \(3,\) for one sample"):
        artifact(np.zeros((2, 4)))


def test_library_file_names_become_c_identifiers(tmp_path: Path, capsys) -> None:
    artifact = nnc.compile(nn.Linear(2, 1), ["x:float[2]=0..1"], mode="exact")
    path = artifact.save(tmp_path / "my-model.v2.so")
    header = path.with_suffix(".h").read_text()
    assert "int my_model_eval(const double *x, double *y);" in header
    library = nnc.load(path)
    assert library.prefix == "my_model" and library.metadata["name"] == "my_model"
    assert main(["show", str(path)]) == 0
    assert "C prefix my_model" in capsys.readouterr().out
    with pytest.raises(nnc.InputError, match="cannot name the library's C functions"):
        artifact.save(tmp_path / "lib.so", name="my-model")  # an explicit name is not changed


def test_working_memory_is_stated(tmp_path: Path) -> None:
    artifact = nnc.compile(nn.Conv2d(2, 3, 3), ["x:float[2,5,5]=-1..1"], mode="exact", samples=64)
    path = artifact.save(tmp_path / "conv.so")
    memory = nnc.load(path).metadata["working_memory"]
    assert memory["eval_bytes"] >= 3 * 3 * 3 * 8  # the output's 27 values, as 8-byte lanes
    assert memory["batch_bytes"] >= memory["tile"] * memory["eval_bytes"] / 2
    header = path.with_suffix(".h").read_text()
    assert f"#define CONV_EVAL_WORKSPACE_BYTES {memory['eval_bytes']}" in header
