"""The row entries of a saved library — one sample, batches, threaded batches, in doubles and in
the network's own types — against the network: every batch size around the tile, x and y in the
same memory, both precisions, the portable build, token rows; and the check a save runs on them."""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess

import nnc
import numpy as np
import pytest
import torch
from helpers import FLOAT32_ATOL, FLOAT32_RTOL, network_output
from nnc.backends.entries import entry_runners
from nnc.backends.entrypoints import MAX_TILE
from nnc.errors import FidelityError
from torch import nn

SIZES = [0, 1, 2, MAX_TILE - 1, MAX_TILE, MAX_TILE + 1, 2 * MAX_TILE + 3, 100]
# a double-precision library against the float64 network: rounding of double arithmetic only
DOUBLE_RTOL = 1e-12


def _mlp(width_in: int = 5, width_out: int = 7) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(width_in, 40), nn.Tanh(), nn.Linear(40, 33), nn.ReLU(), nn.Linear(33, width_out)
    ).eval()


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """The MLP saved as a library (checked at save), loaded, with its row entries."""
    model = _mlp()
    art = nnc.compile(model, ["x:float[5]=-1..1"], mode="exact")
    path = art.save(tmp_path_factory.mktemp("rows") / "mlp.so")
    abi = art.abi("mlp")
    return model, art, entry_runners(ctypes.CDLL(str(path)), abi), abi


def test_the_save_checked_every_entry(library) -> None:
    _, art, runners, _ = library
    assert set(art.library_checks) == {r.symbol for r in runners}
    assert {r.symbol for r in runners} >= {"mlp_eval_batch_threads", "mlp_eval_batch_f32"}


@pytest.mark.parametrize("n", SIZES)
def test_every_entry_on_every_batch_size(library, n: int) -> None:
    model, _, runners, _ = library
    x = np.random.default_rng(n).uniform(-1, 1, (n, 5)).astype(np.float32)
    expected = network_output(model, x).reshape(n, 7)
    for runner in runners:
        got = runner.run(x.astype(np.float64))
        assert got.shape == (n, 7), runner.symbol
        np.testing.assert_allclose(
            got, expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL, err_msg=runner.symbol
        )


def _entry(library, symbol: str):
    return next(r for r in library[2] if r.symbol == symbol)


@pytest.fixture(scope="module")
def square(tmp_path_factory):
    """A 6 → 6 MLP saved as a library: outputs the size of inputs, so y can be written over x."""
    art = nnc.compile(_mlp(6, 6), ["x:float[6]=-1..1"], mode="exact")
    path = art.save(tmp_path_factory.mktemp("square") / "sq.so")
    return entry_runners(ctypes.CDLL(str(path)), art.abi("sq"))


@pytest.mark.parametrize("symbol", ["sq_eval_batch", "sq_eval_batch_f32", "sq_eval_batch_threads"])
@pytest.mark.parametrize("shift", [0, 3, -2])
def test_x_and_y_in_the_same_memory(square, symbol: str, shift: int) -> None:
    """y written over x (shift 0: in place; else partly overlapping): the same outputs as with
    separate buffers."""
    runner = next(r for r in square if r.symbol == symbol)
    n = 2 * MAX_TILE + 5
    x = np.random.default_rng(1).uniform(-1, 1, (n, 6)).astype(runner.x_dtype)
    expected = runner.run(x)
    memory = np.zeros(n * 6 + 16, runner.x_dtype)
    start = 8
    memory[start : start + n * 6] = x.ravel()
    x_at, y_at = memory[start:].ctypes.data, memory[start + shift :].ctypes.data
    arguments = [n, x_at, y_at] + ([2] if symbol.endswith("threads") else [])
    assert runner.function(*arguments) == 0
    got = memory[start + shift : start + shift + n * 6].reshape(n, 6)
    np.testing.assert_array_equal(got.astype(np.float64), expected)


def test_double_precision_computes_the_network_in_double(tmp_path) -> None:
    """precision="double": NAME_eval_batch within double rounding of the network run in float64;
    the default keeps float32 and is within float32 rounding of the network as it is."""
    model = _mlp()
    x = np.random.default_rng(2).uniform(-1, 1, (50, 5)).astype(np.float32)
    outputs = {}
    for precision in ("double", "network"):
        art = nnc.compile(model, ["x:float[5]=-1..1"], mode="exact", precision=precision)
        library = ctypes.CDLL(str(art.save(tmp_path / f"in_{precision}.so")))
        runners = entry_runners(library, art.abi(f"in_{precision}"))
        batch = next(r for r in runners if r.kind == "batch")
        outputs[precision] = (batch.run(x.astype(np.float64)), art.llvm_ir())
    in_double = network_output(_mlp().double(), x.astype(np.float64))
    np.testing.assert_allclose(outputs["double"][0], in_double, rtol=DOUBLE_RTOL)
    np.testing.assert_allclose(
        outputs["network"][0], network_output(model, x), rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL
    )
    assert "gemm_" in outputs["network"][1] and " x float>" in outputs["network"][1]
    assert " x double>" in outputs["double"][1] and " x float>" not in outputs["double"][1]


@pytest.mark.skipif(shutil.which("objdump") is None, reason="needs objdump to read the code")
def test_the_portable_build_uses_sse2_only(tmp_path) -> None:
    model = _mlp()
    art = nnc.compile(model, ["x:float[5]=-1..1"], mode="exact", cpu="generic")
    path = art.save(tmp_path / "portable.so")
    assert art.library_checks  # every entry of the portable library passed the save's check
    code = subprocess.run(["objdump", "-d", str(path)], capture_output=True, text=True, check=True)
    assert "%xmm" in code.stdout
    assert not any(register in code.stdout for register in ("%ymm", "%zmm", "vfmadd"))


class Tokens(nn.Module):
    """Token ids in, class out: the typed rows take int64 tokens and give int64 classes."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.embed = nn.Embedding(20, 16)
        self.head = nn.Linear(16 * 3, 5)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.embed(tokens)).flatten(1))


def test_token_rows_stay_integers(tmp_path) -> None:
    model = Tokens().eval()
    art = nnc.compile(model, ["t:int[3]=0..19"], mode="exact", output="argmax")
    abi = art.abi("tok")
    assert abi.rows == "i64"
    runners = entry_runners(ctypes.CDLL(str(art.save(tmp_path / "tok.so"))), abi)
    typed = next(r for r in runners if r.symbol == "tok_eval_batch_i64")
    assert typed.x_dtype is np.int64 and typed.y_dtype is np.int64
    tokens = np.random.default_rng(4).integers(0, 20, (77, 3))
    with torch.no_grad():
        expected = model(torch.from_numpy(tokens)).argmax(-1).numpy()
    np.testing.assert_array_equal(typed.run(tokens).ravel(), expected)


def test_a_library_that_differs_from_the_network_is_not_written(tmp_path, monkeypatch) -> None:
    """The save's check runs the linked entries: one that computes something else stops it."""
    import nnc.artifact as artifact_module

    model = _mlp()
    art = nnc.compile(model, ["x:float[5]=-1..1"], mode="exact")

    def lying(library, abi):
        runners = entry_runners(library, abi)
        honest = runners[1].run
        runners[1].run = lambda x: honest(x) + 1e-3
        return runners

    monkeypatch.setattr(artifact_module, "entry_runners", lying)
    with pytest.raises(FidelityError, match="mlp_eval_batch"):
        art.save(tmp_path / "mlp.so")
    assert not (tmp_path / "mlp.so").exists()


def _conv_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(3 * 3 * 3, 4),
        nn.Softmax(dim=-1),
    ).eval()


@pytest.mark.parametrize("precision", ["network", "double"])
def test_the_stated_working_memory_is_what_the_kernels_plan(precision, tmp_path):
    """The header's and metadata's figures come from the same plans the emitted kernels use: each
    kernel's workspace, for every tile and ISA, and each entry's figure from its kernel's."""
    from llvmlite import ir
    from nnc.backends.codegen import emit_kernel, kernel_plan
    from nnc.backends.entrypoints import tile_for, working_memory
    from nnc.backends.isa import isa_of

    art = nnc.compile(_conv_net(), ["x:float[1,6,6]=-1..1"], mode="exact", precision=precision)
    graph, abi = art.graph, art.abi("conv")
    for isa in (None, isa_of("host"), isa_of("generic")):
        for tile in (1, 4):
            kernel = emit_kernel(ir.Module(), graph, tile, abi.input_numel, "k", precision, isa)
            plan, x_type, y_type = kernel_plan(graph, tile, precision, isa)
            assert (plan.offsets, plan.bytes) == (kernel.plan.offsets, kernel.plan.bytes)
            assert (x_type, y_type) == (kernel.x_type, kernel.y_type)
    memory = working_memory(graph, abi, precision, isa_of("host"))
    single = kernel_plan(graph, 1, precision, isa_of("host"))[0].bytes
    assert memory["tile"] == tile_for(single)
    assert memory["eval_bytes"] >= single and memory["batch_bytes"] >= single
    library = nnc.load(art.save(tmp_path / "conv.so"))
    assert library.metadata["working_memory"] == memory
    header = (tmp_path / "conv.h").read_text()
    assert f"#define CONV_BATCH_WORKSPACE_BYTES {memory['batch_bytes']}" in header


@pytest.mark.parametrize(
    "cpu, precision",
    [
        ("host", "network"),
        pytest.param("generic", "network", marks=pytest.mark.slow),
        pytest.param("host", "double", marks=pytest.mark.slow),
        pytest.param("generic", "double", marks=pytest.mark.slow),
    ],
)
def test_convolutions_through_the_gemm_on_every_batch_size(cpu, precision, tmp_path) -> None:
    """Convolutions (1-D and 2-D, strided, dilated, with and without bias, a padded one reading an
    explicitly padded copy) run as implicit-im2col GEMMs, or vectorised over positions where they
    have few output channels (narrow_conv.py), a grouped one through the windowed loop:
    the saved library (checked at save) against the network on every batch size around the
    tile."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 9, 3, stride=2, dilation=2),
        nn.Tanh(),
        nn.Conv2d(9, 4, 2, bias=False),
        nn.Conv2d(4, 3, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(2),
        nn.Conv1d(3, 5, 2),
        nn.Conv1d(5, 5, 2, groups=5),
    ).eval()
    art = nnc.compile(model, ["x:float[2,13,12]=-1..1"], mode="exact", cpu=cpu, precision=precision)
    code = art.llvm_ir()
    gemms = set(re.findall(r"define internal void @\"gemm_(\w+)_\d+\"", code))
    narrow = set(re.findall(r"@\"?conv_(\w+)\.k_offsets", code))
    assert len(gemms | narrow) == 4, (gemms, narrow)  # all but the grouped one
    library = nnc.load(art.save(tmp_path / "conv.so"))
    for n in SIZES:
        x = np.random.default_rng(n).uniform(-1, 1, (n, 2, 13, 12)).astype(np.float32)
        expected = network_output(model, x) if n else np.zeros((0, 5, 10))
        np.testing.assert_allclose(library(x), expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
