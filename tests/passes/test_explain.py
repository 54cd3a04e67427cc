"""explain's Fourier analysis on embeddings whose frequencies are known by construction."""

from __future__ import annotations

import numpy as np
import torch
from nnc.passes.explain import fourier_spectrum, key_frequencies, restrict_to_frequencies

P = 113
KEYS = [14, 35, 41]  # the planted frequencies
NOISE = 1e-3  # per-entry noise, far below the planted waves


def _embedding(seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """p token rows (plus one '=' row) made of cos/sin waves at KEYS, and the noise-free rows."""
    rng = np.random.default_rng(seed)
    t = np.arange(P)[:, None]
    clean = sum(
        np.cos(2 * np.pi * k * t / P) * rng.normal(size=(1, 16))
        + np.sin(2 * np.pi * k * t / P) * rng.normal(size=(1, 16))
        for k in KEYS
    )
    noisy = clean + NOISE * rng.normal(size=clean.shape)
    equals = rng.normal(size=(1, 16))
    return torch.from_numpy(np.concatenate([noisy, equals])), clean


def test_the_spectrum_holds_the_energy_at_the_planted_frequencies() -> None:
    weights, _ = _embedding()
    spectrum = fourier_spectrum(weights[:P].numpy())
    assert len(spectrum) == P // 2 + 1
    assert spectrum[KEYS].sum() / spectrum.sum() > 0.999
    # Parseval: the spectrum splits the embedding's energy (times p) over frequencies
    np.testing.assert_allclose(spectrum.sum(), P * (weights[:P].numpy() ** 2).sum(), rtol=1e-12)


def test_key_frequencies_are_the_planted_ones() -> None:
    for seed in range(3):
        weights, _ = _embedding(seed)
        assert key_frequencies(fourier_spectrum(weights[:P].numpy())) == KEYS


def test_restricting_to_the_keys_removes_the_noise_and_leaves_the_extra_row() -> None:
    weights, clean = _embedding()
    restricted = restrict_to_frequencies(weights, P, KEYS)
    assert torch.equal(restricted[P], weights[P])  # the "=" token is not a residue
    # what is left of the noise is its share in 2·3 of 113 dimensions (plus the constant)
    error = np.abs(restricted[:P].numpy() - clean).max()
    assert error < 2 * NOISE and error < np.abs(weights[:P].numpy() - clean).max()


def test_restricting_to_every_frequency_changes_nothing() -> None:
    weights, _ = _embedding()
    full = restrict_to_frequencies(weights, P, list(range(1, P // 2 + 1)))
    torch.testing.assert_close(full, weights, rtol=1e-12, atol=1e-12)
