"""The grokking paper's one-layer transformer (random weights): traced, compiled, verified on all
12,769 inputs, and called through the C scalar entry point."""

from __future__ import annotations

import ctypes

import nnc
import numpy as np
import pytest
import torch
from helpers import network_output
from transformer import GrokkingTransformer

SPEC = "tokens:int[3]=[a:0..112, b:0..112, 113]"


@pytest.fixture(scope="module")
def transformer() -> GrokkingTransformer:
    torch.manual_seed(0)
    return GrokkingTransformer().eval()


@pytest.fixture(scope="module")
def compiled(transformer: GrokkingTransformer) -> nnc.Artifact:
    return nnc.compile(transformer, [SPEC], output="argmax", mode="exact")


def test_verified_on_every_input(compiled: nnc.Artifact) -> None:
    fidelity = compiled.report.fidelity
    assert fidelity.complete and fidelity.points == 113 * 113
    assert fidelity.agreement == 113 * 113
    assert fidelity.max_rel <= 1e-5


def test_argmax_matches_network_everywhere(compiled: nnc.Artifact, transformer) -> None:
    a, b = np.meshgrid(np.arange(113), np.arange(113), indexing="ij")
    tokens = np.stack([a.ravel(), b.ravel(), np.full(a.size, 113)], axis=1).astype(np.int64)
    expected = network_output(transformer, tokens).argmax(-1)
    got = compiled(tokens)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)
    assert compiled(torch.from_numpy(tokens[:5])).tolist() == expected[:5].tolist()


def test_scalar_entry_point_from_the_library(compiled: nnc.Artifact, transformer, tmp_path) -> None:
    path = compiled.save(tmp_path / "modadd.so")
    assert "int64_t modadd(int64_t a, int64_t b);" in path.with_suffix(".h").read_text()
    library = ctypes.CDLL(str(path))
    library.modadd.restype = ctypes.c_int64
    library.modadd.argtypes = [ctypes.c_int64, ctypes.c_int64]
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, 113, size=(200, 2))
    tokens = np.concatenate([pairs, np.full((200, 1), 113)], axis=1)
    expected = network_output(transformer, tokens).argmax(-1)
    got = [library.modadd(int(a), int(b)) for a, b in pairs]
    assert got == expected.tolist()
