"""README's claims, re-derived where that is cheap: the files it points to exist, the Quickstart
does what its comments say, the sparse example's parameter counts; the commands that measure the
rest (laws, speed) are named next to their figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nnc
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _block(after: str, language: str) -> str:
    rest = README[README.index(after) :]
    return rest.split(f"```{language}\n", 1)[1].split("```", 1)[0]


def test_every_path_it_names_exists() -> None:
    named = set(re.findall(r"\b((?:docs|examples|benchmarks|tests|compiler)/[\w./-]+\w)", README))
    assert "docs/ARCHITECTURE.md" in named and "docs/reports.md" in named
    missing = [p for p in sorted(named) if not (ROOT / p).exists()]
    assert not missing, missing
    assert "../shared" not in README  # a clone has only the repository


def test_sparse_example_figures() -> None:
    before, after = map(int, re.search(r"shrinks from (\d+) to (\d+) parameters", README).groups())
    artifact = nnc.compile(
        ROOT / "examples/sparse/model.pt2", passes=("fold", "prune", "lower"), quiet=True
    )
    (prune,) = [r for r in artifact.report.passes if r.name == "prune"]
    assert prune.params == (before, after)


@pytest.mark.slow
def test_quickstart_does_what_its_comments_say(tmp_path: Path) -> None:
    """Run the Quickstart as a reader would; its claim about what auto mode did must hold."""
    code = _block("## Quickstart", "python")
    claim = re.search(r"print\(result\.kind\)\s*# (\w+):", code)[1]
    (tmp_path / "build").mkdir()
    (tmp_path / "quickstart.py").write_text(code)
    run = subprocess.run(
        [sys.executable, "quickstart.py"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    printed = run.stdout
    assert printed.splitlines()[-1] == claim
    if claim == "network":
        said = float(re.search(r"against the network is float rounding \(≈ (\S+)\)", README)[1])
        measured = float(re.search(r"max rel error (\S+),", printed)[1])
        assert measured <= 10 * said <= 1e-5
    assert (tmp_path / "build" / "model.so").is_file() and (
        tmp_path / "build" / "model.h"
    ).is_file()
