"""The grokking paper's one-layer transformer (random weights): traced, compiled, verified on every
input of its domain, and called through the C scalar entry point. The default run takes every
first token with 16 second tokens; `-m slow` the whole 113 × 113 domain."""

from __future__ import annotations

import ctypes

import nnc
import numpy as np
import pytest
import torch
from helpers import network_output
from transformer import GrokkingTransformer

P = 113
# second-token count → the domain; every first token appears in both
DOMAINS = [16, pytest.param(P, marks=pytest.mark.slow)]


@pytest.fixture(scope="module")
def transformer() -> GrokkingTransformer:
    torch.manual_seed(0)
    return GrokkingTransformer().eval()


@pytest.fixture(scope="module", params=DOMAINS, ids=lambda n: f"b<{n}")
def domain(request: pytest.FixtureRequest) -> np.ndarray:
    """Every token triple (a, b, '=') of the domain."""
    a, b = np.meshgrid(np.arange(P), np.arange(request.param), indexing="ij")
    return np.stack([a.ravel(), b.ravel(), np.full(a.size, P)], axis=1).astype(np.int64)


@pytest.fixture(scope="module")
def compiled(transformer: GrokkingTransformer, domain: np.ndarray) -> nnc.Artifact:
    spec = f"tokens:int[3]=[a:0..{P - 1}, b:0..{domain[:, 1].max()}, {P}]"
    return nnc.compile(transformer, [spec], output="argmax", mode="exact")


def test_verified_on_every_input(compiled: nnc.Artifact, domain: np.ndarray) -> None:
    fidelity = compiled.report.fidelity
    assert fidelity.complete and fidelity.points == len(domain)
    assert fidelity.agreement == len(domain)
    assert fidelity.max_rel <= 1e-5


def test_argmax_matches_network_everywhere(
    compiled: nnc.Artifact, transformer: GrokkingTransformer, domain: np.ndarray
) -> None:
    expected = network_output(transformer, domain).argmax(-1)
    got = compiled(domain)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)
    assert compiled(torch.from_numpy(domain[:5])).tolist() == expected[:5].tolist()


def test_scalar_entry_point_from_the_library(
    compiled: nnc.Artifact, transformer: GrokkingTransformer, domain: np.ndarray, tmp_path
) -> None:
    path = compiled.save(tmp_path / "modadd.so")
    assert "int64_t modadd(int64_t a, int64_t b);" in path.with_suffix(".h").read_text()
    library = ctypes.CDLL(str(path))
    library.modadd.restype = ctypes.c_int64
    library.modadd.argtypes = [ctypes.c_int64, ctypes.c_int64]
    tokens = domain[np.random.default_rng(0).choice(len(domain), 200, replace=False)]
    expected = network_output(transformer, tokens).argmax(-1)
    got = [library.modadd(int(a), int(b)) for a, b, _ in tokens]
    assert got == expected.tolist()
