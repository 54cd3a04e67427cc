"""The shipped examples run as their READMEs say: C program, Python loader, clean checkpoints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch
from helpers import FLOAT32_RTOL, network_output

import nnc
from nnc.cli import main

ROOT = Path(__file__).resolve().parents[1]
PHYSICS = ROOT / "examples" / "physics"


def test_c_program_calls_the_library(tmp_path: Path) -> None:
    assert main([str(PHYSICS / "model.pt2"), "-o", str(tmp_path / "algo.so"), "-q"]) == 0
    binary = tmp_path / "physics"
    subprocess.run(["cc", "-O2", f"-I{tmp_path}", str(PHYSICS / "main.c"), str(tmp_path / "algo.so"),
                    "-o", str(binary), f"-Wl,-rpath,{tmp_path}"], check=True)
    printed = subprocess.run([str(binary), "2.0", "3.0", "1.5"], capture_output=True, text=True,
                             check=True).stdout
    network, scalar = map(float, re.search(r"network (\S+), scalar call (\S+),", printed).groups())
    loaded = nnc.load(tmp_path / "algo.so")
    program = torch.export.load(str(PHYSICS / "model.pt2")).module()
    expected = network_output(program, np.array([[2.0, 3.0, 1.5]], dtype=np.float32))[0, 0]
    assert network == scalar
    assert abs(network - expected) <= FLOAT32_RTOL * abs(expected)
    assert abs(network - loaded(np.array([2.0, 3.0, 1.5]))[0]) <= FLOAT32_RTOL * abs(expected)


def test_python_example_uses_only_the_loader(tmp_path: Path) -> None:
    assert main([str(PHYSICS / "model.pt2"), "-o", str(tmp_path / "algo.so"), "-q"]) == 0
    blocker = tmp_path / "sitecustomize.py"  # makes `import torch` fail in the child process
    blocker.write_text("import sys\nsys.modules['torch'] = None\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run([sys.executable, str(PHYSICS / "use_library.py"), str(tmp_path / "algo.so")],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "verified on 4096 points" in result.stdout


def test_shipped_checkpoints_carry_no_build_paths() -> None:
    for checkpoint in ROOT.glob("examples/**/*.pt2"):
        with zipfile.ZipFile(checkpoint) as archive:
            for name in archive.namelist():
                data = archive.read(name)
                for marker in (b"/home/", b"/root/", b"/work/", b"/tmp/", b"site-packages"):
                    assert marker not in data, f"{checkpoint.name}:{name} contains {marker!r}"
        assert checkpoint.stat().st_size < 4 << 20
