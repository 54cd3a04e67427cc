"""Errors in the user's words: every unsupported use listed at once with its module path and
source line — also from a saved .pt2, which holds no machine paths — and `nnc inspect` marking
what it refuses."""

from __future__ import annotations

import importlib.util
import json
import sys
import zipfile
from pathlib import Path

import jsonschema
import nnc
import pytest
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
    assert main(["inspect", str(saved), "--json"]) == 2
    listed = json.loads(capsys.readouterr().out)
    schema = json.loads((Path(__file__).parents[1] / "docs" / "inspect.schema.json").read_text())
    jsonschema.validate(listed, schema)
    assert [p["op"] for p in listed["unsupported"]] == ["aten.topk.default", "aten.sort.default"]


def test_a_stock_module_alone_is_named_by_its_class() -> None:
    with pytest.raises(nnc.UnsupportedOpError, match=r"\(in the model \(EmbeddingBag\)\)"):
        nnc.compile(nn.EmbeddingBag(5, 3), ["t:int[3]=0..4"], mode="exact")
