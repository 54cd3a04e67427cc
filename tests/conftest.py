"""Shared test setup: deterministic seeds, a derandomised hypothesis profile, the grokking model."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "grokking"))
GROKKING = ROOT / "examples" / "grokking" / "modadd.pt2"

settings.register_profile("nnc", deadline=None, derandomize=True, max_examples=25)
settings.load_profile("nnc")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def grokking() -> Any:
    """The flagship compiled once per run (a minute on 2 cores): (a + b) mod 113, int32 columns."""
    import nnc

    return nnc.compile(GROKKING)
