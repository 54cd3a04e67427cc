"""Versions: a library says which C interface it exports and nnc.load refuses one it cannot call;
a .pt2 saved by an earlier nnc still compiles."""

from __future__ import annotations

from pathlib import Path

import nnc
import numpy as np
import pytest
import torch
from helpers import FLOAT32_ATOL, FLOAT32_RTOL
from nnc.backends import abi
from torch import nn

OLD_PT2 = Path(__file__).parent / "fixtures" / "saved_by_nnc_2026-11-23.pt2"  # examples/sparse


@pytest.fixture(scope="module")
def artifact() -> nnc.Artifact:
    torch.manual_seed(0)
    return nnc.compile(
        nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1)),
        ["x:float[2]=0..1"],
        mode="exact",
    )


def test_a_library_carries_its_abi_version(artifact: nnc.Artifact, tmp_path: Path) -> None:
    library = nnc.load(artifact.save(tmp_path / "algo.so"))
    assert library.metadata["abi_version"] == abi.ABI_VERSION


def test_a_library_with_another_abi_is_refused_with_its_origin(
    artifact: nnc.Artifact, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("nnc.artifact.ABI_VERSION", 99)  # as a future nnc would write it
    path = artifact.save(tmp_path / "future.so")
    monkeypatch.undo()
    with pytest.raises(nnc.InputError, match="C interface version 99") as refused:
        nnc.load(path)
    assert f"nnc {nnc.__version__}" in str(refused.value) and "compile the model again" in str(
        refused.value
    )


def test_a_library_from_before_versioning_is_version_1() -> None:
    abi.check_abi_version({"nnc_version": "0.1.0"}, "old.so")  # no abi_version: loads


def test_a_pt2_saved_by_an_earlier_nnc_compiles() -> None:
    artifact = nnc.compile(OLD_PT2, mode="exact")  # its input spec comes from the file
    assert artifact.report.fidelity.passed and artifact.specs[0].text == "x:float[3]=-1..1"
    program = torch.export.load(str(OLD_PT2))
    x = np.random.default_rng(0).uniform(-1, 1, (64, 3)).astype(np.float32)
    with torch.no_grad():
        expected = program.module()(torch.from_numpy(x)).double().numpy()
    np.testing.assert_allclose(artifact(x), expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
