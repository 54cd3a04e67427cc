"""Shared test setup: deterministic seeds, a derandomised hypothesis profile, the grokking model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "grokking"))

settings.register_profile("nnc", deadline=None, derandomize=True, max_examples=25)
settings.load_profile("nnc")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
