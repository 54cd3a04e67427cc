"""The front end in the user's words: every unsupported use listed at once with its module path
and source line (also from a saved .pt2, which holds no machine paths), `nnc inspect` marking
what it refuses, library names made C identifiers, models that only work at batch size 1."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path

import nnc
import pytest
import torch
from nnc.cli import main
from torch import nn

SPEC = "x:float[2,5,5]=-1..1"

BLOCK = """\
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3)

    def forward(self, x):
        y = self.conv(x)
        return torch.topk(y.flatten(1), 2).values
"""

MODEL = """\
from torch import nn

from layers.block import Block


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([Block()])

    def forward(self, x):
        return self.layers[0](x).sort().values
"""


@pytest.fixture
def user_model(tmp_path: Path) -> nn.Module:
    """A model in the user's own package: net.py, and layers/block.py beside it."""
    package = tmp_path / "project"
    (package / "layers").mkdir(parents=True)
    (package / "layers" / "block.py").write_text(BLOCK)
    (package / "net.py").write_text(MODEL)
    sys.path.insert(0, str(package))
    try:
        spec = importlib.util.spec_from_file_location("net", package / "net.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.Net()
    finally:
        sys.path.remove(str(package))
        sys.modules.pop("layers.block", None)
        sys.modules.pop("layers", None)


def test_every_unsupported_use_is_listed_with_module_and_line(user_model: nn.Module) -> None:
    with pytest.raises(nnc.UnsupportedOpError) as caught:
        nnc.compile(user_model, [SPEC], mode="exact")
    error = caught.value
    assert [p.op for p in error.problems] == ["aten.topk.default", "aten.sort.default"]
    assert "nnc cannot compile 2 operations" in error.message
    assert (
        "in layers.0 (Block), block.py:12: return torch.topk(y.flatten(1), 2).values"
        in error.message
    )
    assert "net.py:12: return self.layers[0](x).sort().values" in error.message


def test_a_saved_model_keeps_relative_locations_and_no_paths(
    user_model: nn.Module, tmp_path: Path
) -> None:
    saved = tmp_path / "net.pt2"
    nnc.save_model(user_model, saved, inputs=[SPEC])
    with zipfile.ZipFile(saved) as archive:
        contents = b"".join(archive.read(name) for name in archive.namelist())
    for machine_path in (str(tmp_path), str(Path.home()), "site-packages", sys.prefix):
        assert machine_path.encode() not in contents, machine_path
    with pytest.raises(nnc.UnsupportedOpError) as caught:
        nnc.compile(saved, mode="exact")
    assert "in layers.0 (Block), layers/block.py:12: return torch.topk" in caught.value.message
    assert "net.py:12: return self.layers[0](x).sort().values" in caught.value.message


def test_inspect_marks_refused_ops_and_lists_them(
    user_model: nn.Module, tmp_path: Path, capsys
) -> None:
    saved = tmp_path / "net.pt2"
    nnc.save_model(user_model, saved, inputs=[SPEC])
    assert main(["inspect", str(saved)]) == 2
    captured = capsys.readouterr()
    assert "ok  aten.convolution.default: 1" in captured.out
    assert "NO  aten.topk.default: 1" in captured.out and "NO  aten.sort.default: 1" in captured.out
    assert "layers/block.py:12" in captured.err and "net.py:12" in captured.err


def test_a_stock_module_alone_is_named_by_its_class() -> None:
    with pytest.raises(nnc.UnsupportedOpError, match=r"\(in the model \(EmbeddingBag\)\)"):
        nnc.compile(nn.EmbeddingBag(5, 3), ["t:int[3]=0..4"], mode="exact")


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
    artifact = nnc.compile(nn.Conv2d(2, 3, 3), [SPEC], mode="exact", samples=64)
    path = artifact.save(tmp_path / "conv.so")
    memory = nnc.load(path).metadata["working_memory"]
    assert memory["eval_bytes"] >= 3 * 3 * 3 * 8  # the output's 27 values, as 8-byte lanes
    assert memory["batch_bytes"] >= memory["tile"] * memory["eval_bytes"] / 2
    header = path.with_suffix(".h").read_text()
    assert f"#define CONV_EVAL_WORKSPACE_BYTES {memory['eval_bytes']}" in header


class _BatchOfOne(nn.Module):
    """Broadcasts (n, 3) against (n,): right at batch size 1 only."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + x.sum(-1)


class _AcrossTheBatch(nn.Module):
    """Centres every sample on the batch's mean."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - x.mean()


@pytest.mark.parametrize(
    ("model", "words"),
    [
        (_BatchOfOne(), "the model fails on a batch of"),
        (_AcrossTheBatch(), "depends on the other samples of its batch"),
    ],
)
def test_models_tied_to_their_batch_are_refused_with_a_reason(model, words) -> None:
    with pytest.raises(nnc.InputError, match=words):
        nnc.compile(model, ["x:float[3]=-1..1"], mode="exact")
