"""Shared test setup: deterministic seeds, a derandomised hypothesis profile, the grokking model,
and compiles several test files read (each made once per run)."""

from __future__ import annotations

import sys
from pathlib import Path

import nnc
import pytest
import torch
from hypothesis import settings
from nnc.progress import Progress

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "grokking"))
GROKKING = ROOT / "examples" / "grokking" / "modadd.pt2"

settings.register_profile("nnc", deadline=None, derandomize=True, max_examples=25)
settings.load_profile("nnc")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


class RecordingProgress(Progress):
    """A Progress that remembers every (task, budget, status, best) it was told about."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, float | None, str, str]] = []

    def _update(self, **changes: str) -> None:
        super()._update(**changes)
        task = self.snapshot()[-1]
        self.seen.append((task.label, task.budget, task.status, task.best))


@pytest.fixture(scope="session")
def grokking() -> nnc.Artifact:
    """The flagship checkpoint compiled as its README says."""
    return nnc.compile(
        GROKKING,
        ["tokens:int[3]=[a:0..112, b:0..112, 113]"],
        output="argmax",
        quiet=True,
    )


@pytest.fixture(scope="session")
def law() -> tuple[nnc.Artifact, RecordingProgress]:
    """The physics network through auto mode (basis engine: seconds, deterministic), with the
    progress it reported."""
    progress = RecordingProgress()
    return nnc.compile(ROOT / "examples/physics/model.pt2", engine="basis", progress=progress), (
        progress
    )


class _Classifier(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)
        )

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.layers(t.float())


@pytest.fixture(scope="session")
def classifier() -> nnc.Artifact:
    """An untrained 3-class classifier on a small integer grid: it becomes an exact table."""
    torch.manual_seed(0)
    return nnc.compile(
        _Classifier(), ["t:int[2]=[a:0..5, b:0..5]"], output="argmax", synth_seconds=5, quiet=True
    )
