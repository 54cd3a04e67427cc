"""The shipped examples run as their READMEs say: C program, Python loader, clean checkpoints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nnc
import numpy as np
import pytest
import torch
from helpers import FLOAT32_RTOL, GATE_MAX, network_output
from nnc.cli import main

ROOT = Path(__file__).resolve().parents[1]
PHYSICS = ROOT / "examples" / "physics"


@pytest.fixture(scope="module")
def physics_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """README's first command, run once for the tests of what it wrote."""
    out = tmp_path_factory.mktemp("physics") / "algo.so"
    assert main([str(PHYSICS / "model.pt2"), "-o", str(out), "-q"]) == 0
    return out


def test_c_program_calls_the_library(physics_library: Path, tmp_path: Path) -> None:
    """The law comes out, and C, Python and the law agree."""
    binary = tmp_path / "physics"
    subprocess.run(
        [
            "cc",
            "-O2",
            f"-I{physics_library.parent}",
            str(PHYSICS / "main.c"),
            str(physics_library),
            "-o",
            str(binary),
            f"-Wl,-rpath,{physics_library.parent}",
        ],
        check=True,
    )
    printed = subprocess.run(
        [str(binary), "2.0", "3.0", "1.5"], capture_output=True, text=True, check=True
    ).stdout
    network, scalar, law = map(
        float, re.search(r"network (\S+), scalar call (\S+), law (\S+)", printed).groups()
    )
    loaded = nnc.load(physics_library)
    assert loaded.metadata["closed_form"] == "x0*x1/x2**2"
    assert network == scalar  # C prints 9 digits; Python returns the network's float32
    assert abs(network - loaded(np.array([2.0, 3.0, 1.5]))[0].item()) <= 1e-7 * abs(network)
    assert abs(network - law) <= 1e-6 * abs(law)  # the closed form is the law itself
    program = torch.export.load(str(PHYSICS / "model.pt2")).module()
    original = network_output(program, np.array([[2.0, 3.0, 1.5]], dtype=np.float32))[0, 0]
    assert abs(network - original) <= GATE_MAX * abs(original)


def test_exact_mode_library_matches_the_network(tmp_path: Path) -> None:
    out = tmp_path / "exact.so"
    assert main([str(PHYSICS / "model.pt2"), "-o", str(out), "-q", "--mode", "exact"]) == 0
    program = torch.export.load(str(PHYSICS / "model.pt2")).module()
    x = np.random.default_rng(0).uniform(1, 3, size=(100, 3)).astype(np.float32)
    np.testing.assert_allclose(
        nnc.load(out)(x), network_output(program, x), rtol=FLOAT32_RTOL, atol=FLOAT32_RTOL
    )


def test_python_example_uses_only_the_loader(physics_library: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "sitecustomize.py"  # makes `import torch` fail in the child process
    blocker.write_text("import sys\nsys.modules['torch'] = None\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run(
        [sys.executable, str(PHYSICS / "use_library.py"), str(physics_library)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "verified on 4096 points" in result.stdout


def test_save_model_writes_no_paths_of_this_machine(tmp_path: Path) -> None:
    """nnc.save_model drops the source locations torch.export records (the examples' checkpoints
    were written by it; examples/check.py checks the shipped files themselves)."""
    path = tmp_path / "model.pt2"
    nnc.save_model(
        torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Tanh()),
        path,
        inputs=["x:float[3]=0..1"],
    )
    markers = [str(ROOT).encode(), str(Path(torch.__file__).parent).encode(), b"site-packages"]
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            data = archive.read(name)
            for marker in markers:
                assert marker not in data, f"{name} contains {marker!r}"
    program = torch.export.load(str(path))
    assert not any(n.meta.get("stack_trace") for n in program.graph.nodes)
